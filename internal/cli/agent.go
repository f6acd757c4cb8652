package cli

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/agent"
	"github.com/dualpeer/dualpeer/internal/sysmon"
)

// agentMemoryLimit is the agent's default soft memory limit (see GOMEMLIMIT).
const agentMemoryLimit = 48 << 20

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
			if err := sysmon.Exec(); err != nil {
				o.Log.Warn("running without the agent's runtime settings", "error", err.Error())
			}
			// An edge agent should have a predictable footprint: unless the operator set
			// GOMEMLIMIT, ask the GC to stay under agentMemoryLimit (a soft limit: the broker's
			// bounded queues, not the GC, are what bound memory; this only stops the heap from
			// growing to twice the live data between collections).
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(agentMemoryLimit)
			}
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
