package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/provider/local"
)

func newStatusCmd(app *App) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show namespaces, peering, agents, listeners, dataflows and counters of the local deployment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := newLocalProvider(app)
			if err != nil {
				return err
			}
			st, err := p.Status(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(app.Out, st)
			}
			renderStatus(app.Out, st)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func renderStatus(w io.Writer, st *local.Status) {
	d := st.Deployment
	t := d.Topology
	names := t.Names()
	fmt.Fprintf(w, "Deployment %s (created %s, last up %s, complete: %v)\n\n", d.ID, d.CreatedAt.Format("2006-01-02 15:04:05Z"), d.UpdatedAt.Format("2006-01-02 15:04:05Z"), d.Complete)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tADDRESS SPACE\tSUBNET\tVM\tVNET NS\tVM NS")
	for _, c := range []string{"a", "b"} {
		cl := t.A
		cn := names.A
		if c == "b" {
			cl, cn = t.B, names.B
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(c), cl.AddressSpace, cl.Subnet, cl.VMAddr, cn.RouterNS, cn.VMNS)
	}
	tw.Flush()
	pr := t.Peering
	fmt.Fprintf(w, "\nPeering A <-> B: allow_virtual_network_access=%v allow_forwarded_traffic=%v allow_gateway_transit=%v use_remote_gateways=%v\n",
		pr.AllowVirtualNetworkAccess, pr.AllowForwardedTraffic, pr.AllowGatewayTransit, pr.UseRemoteGateways)
	if st.NetworkErr != "" {
		fmt.Fprintf(w, "Network: %s\n", st.NetworkErr)
	} else if st.Network != nil {
		if st.Network.Ready() {
			fmt.Fprintln(w, "Network: ready (namespaces, links, addresses, routes and peering rules in place)")
		} else {
			fmt.Fprintln(w, "Network: NOT ready:")
			for _, pr := range st.Network.Problems {
				fmt.Fprintf(w, "  - %s\n", pr)
			}
		}
	}
	fmt.Fprintln(w)
	keys := make([]string, 0, len(st.Agents))
	for k := range st.Agents {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, c := range keys {
		a := st.Agents[c]
		state := "not running"
		if a.Ready {
			state = "ready"
		} else if len(a.PIDs) > 0 {
			state = "running, not ready: " + a.Error
		}
		fmt.Fprintf(w, "Agent %s: %s (pids %v, log %s)\n", strings.ToUpper(c), state, a.PIDs, a.Log)
		if a.Status != nil {
			a.Status.Render(w, "  ")
		}
	}
}
