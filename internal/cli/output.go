package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/provider/local"
)

func newOutputCmd(app *App) *cobra.Command {
	var asJSON bool
	var target string
	var config configFlags
	cmd := &cobra.Command{
		Use:   "output [NAME]",
		Short: "Print the blueprint's outputs (terraform-style), or one of them",
		Long: `output prints the blueprint's outputs for the deployment: resource groups, virtual networks,
Arc clusters, AIO instances, the proxy command (locally: dualpeer exec), the two peerings with
their settings, and on the local target the certificate files a mosquitto client needs to talk
to Cluster A's X.509 listener.`,
		Example: `  dualpeer output
  dualpeer output -json
  dualpeer output client_certificate_files`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target == "azure" {
				cfg, err := config.load(cmd.Context(), blueprint.Default)
				if err != nil {
					return err
				}
				return runAzureOutput(cmd.Context(), app, cfg)
			}
			p, err := newLocalProvider(app)
			if err != nil {
				return err
			}
			o, err := p.Outputs()
			if err != nil {
				return err
			}
			if len(args) == 1 {
				v, ok := o.Get(args[0])
				if !ok {
					return fmt.Errorf("output %q not found; `dualpeer output` lists them", args[0])
				}
				if asJSON {
					return writeJSON(app.Out, v)
				}
				fmt.Fprintln(app.Out, formatValue(v, ""))
				return nil
			}
			if asJSON {
				m := map[string]any{}
				for _, x := range o.List {
					m[x.Name] = map[string]any{"value": x.Value, "sensitive": x.Sensitive}
				}
				return writeJSON(app.Out, m)
			}
			renderOutputs(app.Out, o)
			return nil
		},
	}
	config.addFlags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON (terraform output -json)")
	cmd.Flags().StringVar(&target, "target", "local", "local or azure")
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// renderOutputs prints outputs like terraform: name = value, maps as { k = v }.
func renderOutputs(w io.Writer, o *local.Outputs) {
	for _, x := range o.List {
		if x.Sensitive {
			fmt.Fprintf(w, "%s = (sensitive)\n", x.Name)
			continue
		}
		fmt.Fprintf(w, "%s = %s\n", x.Name, formatValue(x.Value, ""))
	}
}

func formatValue(v any, indent string) string {
	switch t := v.(type) {
	case string:
		return fmt.Sprintf("%q", t)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s  %s = %s\n", indent, k, formatValue(t[k], indent+"  "))
		}
		b.WriteString(indent + "}")
		return b.String()
	default:
		return fmt.Sprint(t)
	}
}
