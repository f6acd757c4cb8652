package graph

import (
	"fmt"
	"io"
	"strings"
)

// DOT writes the model as a Graphviz digraph: each VNet a cluster containing its subnet and VM,
// the peering as a bidirectional edge between the VNets, the MQTT link from B's endpoint to A's
// listener, and dashed "trusts" edges to the root CAs. Render with `dot -Tsvg`.
func DOT(w io.Writer, m Model) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("digraph dualpeer {\n")
	p("  graph [label=%s, labelloc=t, fontname=\"Helvetica\", rankdir=LR, compound=true, newrank=true];\n", dotQuote(m.Title+"\n"+m.Subtitle))
	p("  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=11];\n")
	p("  edge [fontname=\"Helvetica\", fontsize=10];\n")

	dotCluster(&b, m.A, "#eef4fd", "#1a5fb4", func() {
		if l := m.AnonListener; l != nil {
			dotNode(&b, "      ", l.ID, l.State, "Anonymous listener "+l.Name, fmt.Sprintf("port %d · %s", l.Port, l.TLS), "auth "+l.Auth)
		}
		l := m.Listener
		dotNode(&b, "      ", l.ID, l.State, "MQTT listener "+l.Name, fmt.Sprintf("port %d · %s", l.Port, l.TLS), "auth "+l.Auth)
	})
	dotCluster(&b, m.B, "#edf7ee", "#26803b", func() {
		d := m.Dataflow
		dotNode(&b, "      ", d.ID, d.State, "Dataflow "+d.Name, fmt.Sprintf("%s → %s (%s)", d.Source, d.Destination, d.Transform))
		dotNode(&b, "      ", d.EndpointID, d.EndpointState, "Endpoint "+d.EndpointName, "host "+d.Host, "auth "+d.Auth)
	})

	pe := m.Peering
	peerLabel := []string{"VNet peering", pe.NameAToB + " ⇄ " + pe.NameBToA,
		"virtual network access: " + onOff(pe.AllowVirtualNetworkAccess),
		"forwarded traffic: " + onOff(pe.AllowForwardedTraffic),
		"gateway transit: " + onOff(pe.AllowGatewayTransit),
		"use remote gateways: " + onOff(pe.UseRemoteGateways)}
	p("  %s [shape=box, style=\"rounded,filled\", fillcolor=\"#f5effa\", color=\"#7a3ea1\", label=%s];\n", dotID(pe.ID), dotQuote(withLive(peerLabel, pe.State)))
	p("  %s [fillcolor=\"#fff6e5\", color=\"#b36b00\", label=%s];\n", dotID(m.ClientCA.ID), dotQuote(withLive([]string{m.ClientCA.Name, m.ClientCA.Issues, m.ClientCA.TrustedBy}, m.ClientCA.State)))
	p("  %s [fillcolor=\"#fff6e5\", color=\"#b36b00\", label=%s];\n", dotID(m.ServerCA.ID), dotQuote(withLive([]string{m.ServerCA.Name, m.ServerCA.Issues, m.ServerCA.TrustedBy}, m.ServerCA.State)))

	// Edges to and from a VNet attach to its VM node and are clipped at the cluster border.
	p("  %s -> %s [dir=both, color=\"#7a3ea1\", penwidth=2, lhead=%s];\n", dotID(pe.ID), dotID(m.A.VM.ID), dotID("cluster_"+m.A.VNet.ID))
	p("  %s -> %s [dir=both, color=\"#7a3ea1\", penwidth=2, lhead=%s];\n", dotID(pe.ID), dotID(m.B.VM.ID), dotID("cluster_"+m.B.VNet.ID))
	p("  %s -> %s [color=\"#26803b\"];\n", dotID(m.Dataflow.ID), dotID(m.Dataflow.EndpointID))
	style := ""
	if m.Dataflow.EndpointState.Status == StatusDown {
		style = ", style=dashed"
	}
	p("  %s -> %s [color=\"#c5221f\", penwidth=2.5, label=%s%s];\n", dotID(m.Dataflow.EndpointID), dotID(m.Listener.ID), dotQuote("MQTT over mutual TLS\nto "+m.Dataflow.Host), style)
	p("  %s -> %s [style=dashed, color=\"#b36b00\", label=%s];\n", dotID(m.Listener.ID), dotID(m.ClientCA.ID), dotQuote("trusts ("+m.Listener.TrustedCA+")"))
	p("  %s -> %s [style=dashed, color=\"#b36b00\", label=%s];\n", dotID(m.Dataflow.EndpointID), dotID(m.ServerCA.ID), dotQuote("trusts ("+m.Dataflow.TrustedCA+")"))
	p("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotCluster(b *strings.Builder, c Cluster, fill, stroke string, inner func()) {
	fmt.Fprintf(b, "  subgraph %s {\n", dotID("cluster_"+c.VNet.ID))
	fmt.Fprintf(b, "    label=%s; style=\"rounded,filled\"; fillcolor=\"%s\"; color=\"%s\";\n", dotQuote(c.Label+" · "+c.Role+"\n"+orUnnamed(c.VNet.Name, "VNet")+"\naddress space "+c.VNet.Prefix), fill, stroke)
	fmt.Fprintf(b, "    subgraph %s {\n", dotID("cluster_"+c.Subnet.ID))
	fmt.Fprintf(b, "      label=%s; style=\"rounded,dashed,filled\"; fillcolor=\"#ffffff\";\n", dotQuote(orUnnamed(c.Subnet.Name, "Subnet")+"\nprefix "+c.Subnet.Prefix))
	dotNode(b, "      ", c.VM.ID, c.VM.State, orUnnamed(c.VM.Name, "VM"), "private IP "+c.VM.IP)
	inner()
	b.WriteString("    }\n  }\n")
}

func dotNode(b *strings.Builder, indent, id string, st State, lines ...string) {
	color := ""
	switch st.Status {
	case StatusUp:
		color = `, color="#1e8e3e", penwidth=2`
	case StatusDown:
		color = `, color="#d93025", penwidth=2`
	}
	fmt.Fprintf(b, "%s%s [label=%s%s];\n", indent, dotID(id), dotQuote(withLive(lines, st)), color)
}

// withLive appends the live state as extra label lines.
func withLive(lines []string, st State) string {
	if st.Status != StatusUnknown {
		lines = append(lines, "status: "+string(st.Status))
	}
	if s := liveLine(st); s != "" {
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

func onOff(b bool) string {
	if b {
		return "allowed"
	}
	return "off"
}

// dotID makes an id safe as a DOT identifier (quoted, so dashes are fine).
func dotID(s string) string { return dotQuote(s) }

// dotQuote quotes a DOT string: backslash and double quote are escaped and newlines become
// DOT's centred line break.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
