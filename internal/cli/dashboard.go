package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/dashboard"
	"github.com/dualpeer/dualpeer/internal/live"
	"github.com/dualpeer/dualpeer/internal/provider/local"
)

// localDashboardSource is App.DashboardSource for real use: the live state of the deployment
// recorded in app.StateDir by the local provider.
func localDashboardSource(ctx context.Context, app *App) (dashboard.Source, error) {
	p, err := local.New(local.Options{StateDir: app.StateDir})
	if err != nil {
		return nil, err
	}
	if _, err := p.Load(); err != nil {
		return nil, err
	}
	return live.Source{Provider: p}, nil
}

func newDashboardCmd(app *App) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a live web page of the running deployment on 127.0.0.1",
		Long: `dashboard serves a local web page showing the running deployment live: the topology with
live state, each agent's health, message rates through the dataflow, queue depths, certificate
expiry dates and the peering state. It updates every second.

It listens only on a loopback address because it has no authentication; to view it from
another machine use an SSH tunnel.`,
		Example: `  dualpeer up
  dualpeer dashboard            # then open http://127.0.0.1:8088/

  # From your laptop, for a lab on a remote host
  ssh -L 8088:127.0.0.1:8088 labhost`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runDashboard(cmd.Context(), app, addr); err != nil {
				return fmt.Errorf("dashboard: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8088", "loopback address and port to listen on")
	return cmd
}

func runDashboard(ctx context.Context, app *App, addr string) error {
	// Check the address before anything else so a wrong flag fails fast with its own message.
	if err := dashboard.CheckAddr(addr); err != nil {
		return err
	}
	if app.DashboardSource == nil {
		return errors.New("no running deployment to show: run `dualpeer up` first")
	}
	src, err := app.DashboardSource(ctx, app)
	if err != nil {
		return fmt.Errorf("read the deployment's status (run `dualpeer up` first): %w", err)
	}
	h := dashboard.New(src, dashboard.Options{})
	return dashboard.Serve(ctx, addr, h, func(url string) {
		fmt.Fprintf(app.Out, "Dashboard: %s (Ctrl-C to stop)\n", url)
	})
}
