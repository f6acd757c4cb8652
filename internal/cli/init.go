package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

type initFlags struct {
	file       string
	force      bool
	quickstart bool
}

func newInitCmd(app *App) *cobra.Command {
	f := &initFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented dualpeer.tfvars with every variable and its default",
		Long: `init writes a variables file listing every variable dualpeer accepts (the blueprint's names, types
and defaults), each with a comment. Fill in the required ones (environment, resource_prefix,
location), then run dualpeer validate and dualpeer plan, which read ./dualpeer.tfvars by themselves.
It never overwrites an existing file unless --force is given.`,
		Example: `  dualpeer init
  dualpeer init --quickstart --file lab.tfvars`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			base := blueprint.Default()
			if f.quickstart {
				base = blueprint.QuickStart()
			}
			var buf bytes.Buffer
			if err := blueprint.WriteTFVars(&buf, base); err != nil {
				return err
			}
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if f.force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			// 0600: users paste external_certificates (private keys) into this file.
			out, err := os.OpenFile(f.file, flags, 0o600)
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists: edit it, pass --force to overwrite it, or --file to write elsewhere", f.file)
			}
			if err != nil {
				return fmt.Errorf("write %s: %w", f.file, err)
			}
			if _, err := out.Write(buf.Bytes()); err != nil {
				out.Close()
				return fmt.Errorf("write %s: %w", f.file, err)
			}
			if err := out.Close(); err != nil {
				return fmt.Errorf("write %s: %w", f.file, err)
			}
			if !app.Quiet {
				fmt.Fprintf(app.Out, "Wrote %s with %d variables. Set the required ones, then run: dualpeer validate\n", f.file, len(blueprint.Variables()))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.file, "file", DefaultVarFile, "file to write")
	cmd.Flags().BoolVar(&f.force, "force", false, "overwrite the file if it exists")
	cmd.Flags().BoolVar(&f.quickstart, "quickstart", false, "start from the quick-start values (required variables filled for a local lab)")
	return cmd
}
