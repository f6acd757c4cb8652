package graph

import (
	"fmt"
	"io"
	"strings"
)

// Mermaid writes the model as a Mermaid flowchart, for Markdown pages that render Mermaid.
func Mermaid(w io.Writer, m Model) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("---\ntitle: %s\n---\n", yamlQuote(m.Title+" ("+m.Subtitle+")"))
	p("flowchart LR\n")
	mmCluster(&b, m.A, func() {
		if l := m.AnonListener; l != nil {
			mmNode(&b, "      ", l.ID, l.State, "Anonymous listener "+l.Name, fmt.Sprintf("port %d · %s", l.Port, l.TLS), "auth "+l.Auth)
		}
		l := m.Listener
		mmNode(&b, "      ", l.ID, l.State, "MQTT listener "+l.Name, fmt.Sprintf("port %d · %s", l.Port, l.TLS), "auth "+l.Auth)
	})
	mmCluster(&b, m.B, func() {
		d := m.Dataflow
		mmNode(&b, "      ", d.ID, d.State, "Dataflow "+d.Name, fmt.Sprintf("%s → %s (%s)", d.Source, d.Destination, d.Transform))
		mmNode(&b, "      ", d.EndpointID, d.EndpointState, "Endpoint "+d.EndpointName, "host "+d.Host, "auth "+d.Auth)
	})
	pe := m.Peering
	mmNode(&b, "  ", pe.ID, pe.State, "VNet peering", pe.NameAToB+" ⇄ "+pe.NameBToA,
		"virtual network access: "+onOff(pe.AllowVirtualNetworkAccess),
		"forwarded traffic: "+onOff(pe.AllowForwardedTraffic),
		"gateway transit: "+onOff(pe.AllowGatewayTransit),
		"use remote gateways: "+onOff(pe.UseRemoteGateways))
	mmNode(&b, "  ", m.ClientCA.ID, m.ClientCA.State, m.ClientCA.Name, m.ClientCA.Issues, m.ClientCA.TrustedBy)
	mmNode(&b, "  ", m.ServerCA.ID, m.ServerCA.State, m.ServerCA.Name, m.ServerCA.Issues, m.ServerCA.TrustedBy)

	p("  %s <==> %s\n", mmID(m.A.VNet.ID), mmID(pe.ID))
	p("  %s <==> %s\n", mmID(pe.ID), mmID(m.B.VNet.ID))
	p("  %s --> %s\n", mmID(m.Dataflow.ID), mmID(m.Dataflow.EndpointID))
	link := "==>"
	if m.Dataflow.EndpointState.Status == StatusDown {
		link = "-.->"
	}
	p("  %s %s|%s| %s\n", mmID(m.Dataflow.EndpointID), link, mmText("MQTT over mutual TLS to "+m.Dataflow.Host), mmID(m.Listener.ID))
	p("  %s -.->|%s| %s\n", mmID(m.Listener.ID), mmText("trusts ("+m.Listener.TrustedCA+")"), mmID(m.ClientCA.ID))
	p("  %s -.->|%s| %s\n", mmID(m.Dataflow.EndpointID), mmText("trusts ("+m.Dataflow.TrustedCA+")"), mmID(m.ServerCA.ID))

	p("  classDef ca fill:#fff6e5,stroke:#b36b00\n")
	p("  classDef peering fill:#f5effa,stroke:#7a3ea1\n")
	p("  classDef up stroke:#1e8e3e,stroke-width:3px\n")
	p("  classDef down stroke:#d93025,stroke-width:3px\n")
	p("  class %s,%s ca\n", mmID(m.ClientCA.ID), mmID(m.ServerCA.ID))
	p("  class %s peering\n", mmID(pe.ID))
	for _, s := range []struct {
		id string
		st Status
	}{
		{m.A.VM.ID, m.A.VM.State.Status}, {m.B.VM.ID, m.B.VM.State.Status}, {pe.ID, pe.State.Status},
		{m.Listener.ID, m.Listener.State.Status}, {m.Dataflow.ID, m.Dataflow.State.Status},
		{m.Dataflow.EndpointID, m.Dataflow.EndpointState.Status},
	} {
		if s.st != StatusUnknown {
			p("  class %s %s\n", mmID(s.id), s.st)
		}
	}
	if l := m.AnonListener; l != nil && l.State.Status != StatusUnknown {
		p("  class %s %s\n", mmID(l.ID), l.State.Status)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mmCluster(b *strings.Builder, c Cluster, inner func()) {
	fmt.Fprintf(b, "  subgraph %s[%s]\n", mmID(c.VNet.ID), mmText(c.Label+" · "+c.Role+" — "+orUnnamed(c.VNet.Name, "VNet")+" "+c.VNet.Prefix))
	fmt.Fprintf(b, "    subgraph %s[%s]\n", mmID(c.Subnet.ID), mmText(orUnnamed(c.Subnet.Name, "Subnet")+" "+c.Subnet.Prefix))
	mmNode(b, "      ", c.VM.ID, c.VM.State, orUnnamed(c.VM.Name, "VM"), "private IP "+c.VM.IP)
	inner()
	b.WriteString("    end\n  end\n")
}

func mmNode(b *strings.Builder, indent, id string, st State, lines ...string) {
	if st.Status != StatusUnknown {
		lines = append(lines, "status: "+string(st.Status))
	}
	if s := liveLine(st); s != "" {
		lines = append(lines, s)
	}
	for i := range lines {
		lines[i] = mmEscape(lines[i])
	}
	fmt.Fprintf(b, "%s%s[\"%s\"]\n", indent, mmID(id), strings.Join(lines, "<br/>"))
}

// mmID turns an element id into a Mermaid node id (letters, digits and underscores only).
func mmID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// mmText is a quoted Mermaid label.
func mmText(s string) string { return `"` + mmEscape(s) + `"` }

// mmEscape uses Mermaid's entity codes for the characters that would end a label or be taken as
// markup.
func mmEscape(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ", "|", "#124;", "#", "#35;")
	return r.Replace(s)
}

// yamlQuote is a YAML double-quoted scalar for the front-matter title. Mermaid does not decode
// entities there, so angle brackets become look-alike quotation marks rather than markup.
func yamlQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ", "<", "‹", ">", "›")
	return `"` + r.Replace(s) + `"`
}
