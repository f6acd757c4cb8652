package blueprint

import (
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// WriteTFVars writes c as a commented .tfvars file with every variable, grouped as in the
// blueprint's README: description, type and origin above each assignment. Required variables
// without a value are written as "" so that `dualpeer validate` points at them. Sensitive
// variables are always written as null: a template never carries secrets.
func WriteTFVars(w io.Writer, c *Config) error {
	var b strings.Builder
	b.WriteString("# dualpeer variables (the same names, types and defaults as the Dual Peered Single Node Cluster\n")
	b.WriteString("# blueprint; an upstream terraform.tfvars loads unchanged). Edit, then run:\n")
	b.WriteString("#   dualpeer validate && dualpeer plan\n")
	b.WriteString("# -var 'name=value' on the command line wins over this file.\n")
	group := ""
	for _, v := range Variables() {
		if v.Group != group {
			group = v.Group
			fmt.Fprintf(&b, "\n# ===== %s =====\n", group)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "# %s\n", v.Description)
		note := "type: " + v.TypeExpr
		if v.Required {
			note += "; REQUIRED"
		}
		if v.Sensitive {
			note += "; sensitive (never printed)"
		}
		if len(v.Aliases) > 0 {
			note += "; also accepted as " + strings.Join(v.Aliases, ", ")
		}
		fmt.Fprintf(&b, "# %s\n", note)
		val, err := v.Get(c)
		if err != nil {
			return err
		}
		text := "null"
		if !v.Sensitive {
			text = strings.TrimSpace(string(hclwrite.TokensForValue(val).Bytes()))
		}
		fmt.Fprintf(&b, "%s = %s\n", v.Name, text)
	}
	out := hclwrite.Format([]byte(b.String()))
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write variables: %w", err)
	}
	return nil
}
