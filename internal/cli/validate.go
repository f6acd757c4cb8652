package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

func newValidateCmd(app *App) *cobra.Command {
	var cf configFlags
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration as strictly as Terraform and Azure would, reporting every problem at once",
		Long: `validate loads the variables (./dualpeer.tfvars, -var-file, -var) and checks them: the blueprint's own
Terraform rules, plus what Azure would reject later (overlapping address spaces, subnets outside
their network, names over Azure's limits, conflicting certificate flags…). It touches nothing.
Exit status 0 when valid, 1 with the list of problems otherwise.`,
		Example: `  dualpeer validate -var environment=dev -var resource_prefix=myorg -var location=eastus2
  dualpeer validate -var-file dualpeer.tfvars`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := cf.load(cmd.Context(), blueprint.Default)
			if err != nil {
				lines, n := problemList(err)
				fmt.Fprintf(app.ErrOut, "%d problem(s) found:\n", n)
				for _, l := range lines {
					fmt.Fprintf(app.ErrOut, "  - %s\n", strings.ReplaceAll(l, "\n", "\n    "))
				}
				return &ExitError{Code: 1, Err: fmt.Errorf("the configuration is not valid: fix the %d problem(s) above", n)}
			}
			if !app.Quiet {
				a, b := cfg.Names("a"), cfg.Names("b")
				fmt.Fprintf(app.Out, "The configuration is valid.\n  Cluster A (server): %s, VNet %s, VM %s at %s\n  Cluster B (client): %s, VNet %s, VM %s at %s\n",
					a.ResourceGroup, cfg.ClusterAVirtualNetworkConfig.AddressSpace, a.VM, cfg.VMPrivateIP("a"),
					b.ResourceGroup, cfg.ClusterBVirtualNetworkConfig.AddressSpace, b.VM, cfg.VMPrivateIP("b"))
			}
			return nil
		},
	}
	cf.addFlags(cmd)
	return cmd
}
