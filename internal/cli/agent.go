package cli

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/agent"
)

func newAgentCmd(app *App) *cobra.Command {
	var o agent.Options
	cmd := &cobra.Command{
		Use:   "agent --cluster-dir DIR",
		Short: "Run one cluster's broker and dataflows (started by `up` inside each VM namespace)",
		Long: `agent is the process that runs inside a cluster's VM: it hosts the cluster's MQTT broker
and dataflow engine, configured from the AIO resources, secrets and config maps in the cluster
directory, reloads them when they change, and serves /healthz, /readyz, /status and Prometheus
/metrics on DIR/agent.sock. Logs are JSON lines on stderr. You do not normally start it yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			level := slog.LevelInfo
			if app.Verbosity > 0 {
				level = slog.LevelDebug
			}
			o.Log = slog.New(slog.NewJSONHandler(app.ErrOut, &slog.HandlerOptions{Level: level}))
			a, err := agent.New(o)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.ClusterDir, "cluster-dir", "", "the cluster directory (manifests/, secrets/, configmaps/)")
	cmd.Flags().StringVar(&o.ListenHost, "listen-host", "", "address LoadBalancer/NodePort listeners bind (default: all)")
	cmd.Flags().StringVar(&o.MetricsAddr, "metrics-addr", "", "also serve the API on this TCP address (inside the VM)")
	return cmd
}
