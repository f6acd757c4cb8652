package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/netcheck"
)

func newTestCmd(app *App) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the spec's connectivity test: ping both ways, TCP, TLS with SAN check, MQTT B -> A",
		Long: `test is the blueprint's "Testing Connectivity", automated, from inside the lab: ping between
the two VMs both ways, TCP to Cluster A's X.509 listener, a TLS handshake with Cluster B's
client certificate that checks the server certificate's IP SAN and chain, and an MQTT message
published on Cluster B's local broker (topic input) that must arrive through the dataflow on
Cluster A's broker (topic output), with its latency. Exits 3 with a diagnosis on failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := newLocalProvider(app)
			if err != nil {
				return err
			}
			rep, err := p.Test(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				if err := writeJSON(app.Out, rep); err != nil {
					return err
				}
			} else {
				renderCheck(app, rep)
			}
			if !rep.OK() {
				return &ExitError{Code: 3, Err: rep.Err()}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// renderCheck prints the report as a checklist on stdout.
func renderCheck(app *App, r *netcheck.Report) {
	if app.Quiet && r.OK() {
		return
	}
	fmt.Fprintln(app.Out, "Connectivity test:")
	for _, c := range r.Checks {
		mark := "✓"
		if !c.OK {
			mark = "✗"
		}
		line := fmt.Sprintf("  %s %s (%s)", mark, c.Name, c.Duration.Round(time.Millisecond))
		if c.Detail != "" {
			line += ": " + c.Detail
		}
		fmt.Fprintln(app.Out, line)
		if !c.OK {
			fmt.Fprintf(app.Out, "      %s\n", c.Diagnosis)
		}
	}
}
