package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

func newDownCmd(app *App) *cobra.Command {
	var target string
	var autoApprove bool
	var subscription string
	var config configFlags
	cmd := &cobra.Command{
		Use:     "down",
		Aliases: []string{"destroy"},
		Short:   "Remove everything up created (agents, namespaces, links, generated files)",
		Long: `down removes the deployment recorded in the state directory: it stops both agents,
deletes the network namespaces and links, and removes the generated certificates, secrets,
scripts and state. It also cleans up after a partial or crashed up, and succeeds when there is
nothing to remove. In Key Vault mode the local vault (your imported chain) is kept.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch target {
			case "local", "":
				p, err := newLocalProvider(app)
				if err != nil {
					return err
				}
				if err := p.Down(cmd.Context()); err != nil {
					return fmt.Errorf("down: %w", err)
				}
				if !app.Quiet {
					fmt.Fprintln(app.Out, "Destroy complete.")
				}
				return nil
			case "azure":
				cfg, err := config.load(cmd.Context(), blueprint.Default)
				if err != nil {
					return err
				}
				return runAzureDestroyWith(cmd.Context(), app, cfg, autoApprove, subscription)
			default:
				return fmt.Errorf("--target %q is not known: use local (the default) or azure", target)
			}
		},
	}
	config.addFlags(cmd)
	cmd.Flags().StringVar(&target, "target", "local", "local or azure")
	cmd.Flags().BoolVar(&autoApprove, "auto-approve", false, "azure: destroy without asking for confirmation")
	cmd.Flags().StringVar(&subscription, "subscription", "", "azure: subscription id (default: ARM_SUBSCRIPTION_ID, then AZURE_SUBSCRIPTION_ID)")
	return cmd
}
