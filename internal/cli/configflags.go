package cli

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// DefaultVarFile is read automatically when it exists in the current directory and no
// -var-file is given, as Terraform reads terraform.tfvars. `dualpeer init` writes it.
const DefaultVarFile = "dualpeer.tfvars"

// configFlags are the Terraform-style inputs every verb that needs a configuration takes.
type configFlags struct {
	varFiles []string
	vars     []string
}

// addFlags registers -var-file and -var (both repeatable, applied in order, later wins).
// StringArray, not StringSlice: HCL values contain commas.
func (f *configFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.varFiles, "var-file", nil, "load variables from a .tfvars (HCL) or .tfvars.json file; repeatable, later files win (default: ./"+DefaultVarFile+" when it exists)")
	cmd.Flags().StringArrayVar(&f.vars, "var", nil, "set a variable: -var 'name=value' (value is an HCL expression; strings may be bare words); repeatable, wins over files")
}

// load builds the configuration from base, the variable files and the -var assignments, then
// validates it. Every problem is returned at once.
func (f *configFlags) load(ctx context.Context, base func() *blueprint.Config) (*blueprint.Config, error) {
	files := f.varFiles
	if len(files) == 0 {
		if st, err := os.Stat(DefaultVarFile); err == nil && st.Mode().IsRegular() {
			files = []string{DefaultVarFile}
		}
	}
	cfg, err := blueprint.Load(ctx, base(), files, f.vars)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// NormalizeArgs rewrites Terraform's single-dash long flags (-var, -var-file, -json,
// -auto-approve, also in the -name=value form) to the double-dash form cobra parses; without it pflag would read "-var" as the
// shorthands -v -a -r. Arguments after "--" are left alone. Call it on os.Args[1:] before
// executing the root command.
func NormalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	passthrough := false
	for _, a := range args {
		if passthrough {
			out = append(out, a)
			continue
		}
		if a == "--" {
			passthrough = true
			out = append(out, a)
			continue
		}
		for _, name := range []string{"-var-file", "-var", "-json", "-auto-approve"} {
			if a == name || strings.HasPrefix(a, name+"=") {
				a = "-" + a
				break
			}
		}
		out = append(out, a)
	}
	return out
}

// problemList renders Load/Validate errors one per line for the validate and plan verbs.
func problemList(err error) (lines []string, count int) {
	fes := blueprint.FieldErrors(err)
	if len(fes) == 0 {
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			for _, e := range j.Unwrap() {
				lines = append(lines, e.Error())
			}
			return lines, len(lines)
		}
		return []string{err.Error()}, 1
	}
	for _, fe := range fes {
		lines = append(lines, fe.Error())
	}
	// Errors that are not FieldErrors (syntax errors in a file) are listed too.
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range j.Unwrap() {
			var fe *blueprint.FieldError
			if !errors.As(e, &fe) {
				lines = append(lines, e.Error())
			}
		}
	}
	return lines, len(lines)
}
