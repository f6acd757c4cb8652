package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/provider/local"
)

type upFlags struct {
	config       configFlags
	target       string
	autoApprove  bool
	output       string
	subscription string
}

func newUpCmd(app *App) *cobra.Command {
	f := &upFlags{}
	cmd := &cobra.Command{
		Use:     "up",
		Aliases: []string{"apply"},
		Short:   "Create both clusters, the peering, the certificates and the MQTT link (local target by default)",
		Long: `up creates or converges the deployment. On the local target (the default) it builds both
clusters on this host with network namespaces, generates the certificates for Cluster A's VM
address, syncs them into each cluster, starts one agent per cluster, waits until both are
ready and runs the connectivity test. Run it again at any time: what exists is kept, what is
missing is created. Needs root (CAP_NET_ADMIN) on the local target.

With no -var / -var-file the built-in quick-start configuration is used (environment dev,
resource_prefix dp, the setup scripts enabled and the anonymous listener on so local tools can
publish). On the local target -var and -var-file override that quick-start configuration; on
Azure they override the blueprint's defaults and environment, resource_prefix and location are
required.`,
		Example: `  dualpeer up
  dualpeer up -var vnet_peering_allow_virtual_network_access=false
  dualpeer up -var 'cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}' \
              -var 'cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}'
  dualpeer up --target azure -var-file prod.tfvars`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch f.target {
			case "local", "":
				cfg, err := f.config.load(ctx, blueprint.QuickStart)
				if err != nil {
					return err
				}
				return runLocalUp(cmd, app, cfg, f.output)
			case "azure":
				cfg, err := f.config.load(ctx, blueprint.Default)
				if err != nil {
					return err
				}
				return runAzureApplyWith(ctx, app, cfg, f.autoApprove, f.subscription)
			default:
				return fmt.Errorf("--target %q is not known: use local (the default) or azure", f.target)
			}
		},
	}
	f.config.addFlags(cmd)
	cmd.Flags().StringVar(&f.target, "target", "local", "where to deploy: local (network namespaces on this host) or azure")
	cmd.Flags().BoolVar(&f.autoApprove, "auto-approve", false, "azure: apply without asking for confirmation")
	cmd.Flags().StringVar(&f.subscription, "subscription", "", "azure: subscription id (default: ARM_SUBSCRIPTION_ID, then AZURE_SUBSCRIPTION_ID)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format of the result: text or json")
	return cmd
}

func newLocalProvider(app *App) (*local.Provider, error) {
	return local.New(local.Options{StateDir: app.StateDir, Progress: newProgress(app)})
}

func runLocalUp(cmd *cobra.Command, app *App, cfg *blueprint.Config, output string) error {
	p, err := newLocalProvider(app)
	if err != nil {
		return err
	}
	res, err := p.Up(cmd.Context(), cfg)
	if res != nil && res.Check != nil {
		renderCheck(app, res.Check)
	}
	if err != nil {
		if res != nil && res.Check != nil && !res.Check.OK() {
			return &ExitError{Code: 3, Err: fmt.Errorf("both clusters are up but the connectivity test failed (see above); `dualpeer test` runs it again, `dualpeer down` removes everything")}
		}
		return fmt.Errorf("up: %w\n(what was created is recorded in %s; run `dualpeer up` again to converge or `dualpeer down` to remove it)", err, app.StateDir)
	}
	if output == "json" {
		return writeJSON(app.Out, res.Outputs)
	}
	if res.Changed {
		fmt.Fprintln(app.Out, "\nApply complete. Outputs:")
	} else {
		fmt.Fprintln(app.Out, "\nApply complete: nothing changed, the deployment already matched the configuration. Outputs:")
	}
	renderOutputs(app.Out, res.Outputs)
	return nil
}
