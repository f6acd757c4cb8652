package graph

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The picture is laid out by hand on a fixed canvas: Cluster A on the left, Cluster B on the
// right, the peering between them, the MQTT link as one horizontal arrow from B's endpoint to A's
// listener, and each root CA under the side that trusts it. Fixed coordinates keep the output
// byte-for-byte deterministic and the picture the same from one configuration to the next, so
// people learn where to look.
const (
	svgW = 1200
	svgH = 770

	colAX = 20  // Cluster A column
	colBX = 740 // Cluster B column
	colW  = 440

	vnetY, vnetH     = 80, 500
	subnetY, subnetH = 150, 410
	vmY, vmH         = 210, 335
	upperY, upperH   = 275, 110 // anonymous listener (A) / dataflow (B)
	lowerY, lowerH   = 415, 110 // X.509 listener (A) / endpoint (B)
	caY, caH         = 615, 100

	peerX, peerY, peerW, peerH = 490, 90, 220, 175

	fontSize    = 13
	smallSize   = 12
	titleSize   = 20
	charW       = 0.6 // average glyph width as a fraction of the font size (monospace is exact)
	lineSpacing = 17
)

// Palette: one hue per concern so the picture reads at a glance.
var (
	colorA       = palette{fill: "#eef4fd", stroke: "#1a5fb4", text: "#0b3b78"}
	colorB       = palette{fill: "#edf7ee", stroke: "#26803b", text: "#114d22"}
	colorPeering = palette{fill: "#f5effa", stroke: "#7a3ea1", text: "#4b2266"}
	colorCA      = palette{fill: "#fff6e5", stroke: "#b36b00", text: "#6b4000"}
	colorElement = palette{fill: "#ffffff", stroke: "#5f6368", text: "#202124"}
)

type palette struct{ fill, stroke, text string }

// SVG draws the model as a standalone SVG document.
func SVG(w io.Writer, m Model) error {
	c := &canvas{}
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="%d" data-testid="topology-svg">`+"\n", svgW, svgH, svgW, svgH, fontSize)
	c.printf(`<title>%s</title>`+"\n", esc(m.Title))
	c.raw(`<defs>
<marker id="arrow-data" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c5221f"/></marker>
<marker id="arrow-trust" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b36b00"/></marker>
<marker id="arrow-peer" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#7a3ea1"/></marker>
<marker id="arrow-flow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#26803b"/></marker>
</defs>
`)
	c.printf(`<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgW, svgH)
	c.text(colAX, 34, titleSize, "bold", "start", "#202124", false, m.Title)
	c.text(colAX, 58, smallSize, "", "start", "#5f6368", false, m.Subtitle)

	c.cluster(m.A, colAX, colorA)
	c.cluster(m.B, colBX, colorB)

	// Cluster A's VM: the anonymous listener (optional) above the X.509 listener.
	ex, ew := colAX+40, colW-80
	if l := m.AnonListener; l != nil {
		c.element(l.ID, ex, upperY, ew, upperH, colorElement, l.State, []line{
			{text: "Anonymous listener " + l.Name, bold: true},
			{text: fmt.Sprintf("port %d · %s", l.Port, l.TLS), mono: true},
			{text: "auth " + l.Auth + " (local tools only)"},
		})
	} else {
		// Say it is off rather than leave a hole a reader might take for a rendering fault.
		c.fitText(ex+12, upperY+22, smallSize, "", "start", "#80868b", false, "no anonymous listener (disabled by", ew-24)
		c.fitText(ex+12, upperY+40, smallSize, "", "start", "#80868b", true, "should_create_anonymous_broker_listener)", ew-24)
	}
	l := m.Listener
	c.element(l.ID, ex, lowerY, ew, lowerH, colorElement, l.State, []line{
		{text: "MQTT listener " + l.Name, bold: true},
		{text: fmt.Sprintf("port %d · %s", l.Port, l.TLS), mono: true},
		{text: "auth " + l.Auth},
	})

	// Cluster B's VM: the dataflow above the endpoint it writes to.
	bx := colBX + 40
	d := m.Dataflow
	c.element(d.ID, bx, upperY, ew, upperH, colorElement, d.State, []line{
		{text: "Dataflow " + d.Name, bold: true},
		{text: fmt.Sprintf("%s → %s (%s)", d.Source, d.Destination, d.Transform), mono: true},
		{text: "from B's local broker to A's broker"},
	})
	c.arrow(bx+ew/2, upperY+upperH, bx+ew/2, lowerY, "arrow-flow", "#26803b", false, 1.5)
	c.element(d.EndpointID, bx, lowerY, ew, lowerH, colorElement, d.EndpointState, []line{
		{text: "Endpoint " + d.EndpointName, bold: true},
		{text: "host " + d.Host, mono: true},
		{text: "auth " + d.Auth},
	})

	c.peering(m.Peering)

	// The MQTT link: one arrow from B's endpoint to A's listener, through the peering.
	ay := lowerY + lowerH/2
	// A link known to be down is drawn dashed so a broken picture looks broken.
	c.arrow(bx, ay, ex+ew, ay, "arrow-data", "#c5221f", d.EndpointState.Status == StatusDown, 2.5)
	mid := (ex + ew + bx) / 2
	c.labelBox(mid, ay-30, []string{"MQTT over mutual TLS", "to " + d.Host}, "#c5221f")

	// Trust: each root CA sits under the side that trusts it.
	c.ca(m.ClientCA, colAX+40, colorCA)
	c.ca(m.ServerCA, colBX+40, colorCA)
	c.trust(ex+ew/2, lowerY+lowerH, caY, fmt.Sprintf("trusts (%s)", m.Listener.TrustedCA))
	c.trust(bx+ew/2, lowerY+lowerH, caY, fmt.Sprintf("trusts (%s)", d.TrustedCA))

	c.legend(m.Live)
	c.raw("</svg>\n")
	if c.err != nil {
		return c.err
	}
	_, err := io.WriteString(w, c.b.String())
	return err
}

type canvas struct {
	b   strings.Builder
	err error
}

func (c *canvas) printf(format string, args ...any) { fmt.Fprintf(&c.b, format, args...) }
func (c *canvas) raw(s string)                      { c.b.WriteString(s) }

type line struct {
	text       string
	bold, mono bool
}

// text writes one line, cut to fit maxW pixels when maxW > 0 (the full text stays in a <title>
// tooltip so nothing is lost).
func (c *canvas) text(x, y, size int, weight, anchor, color string, mono bool, s string) {
	c.fitText(x, y, size, weight, anchor, color, mono, s, 0)
}

func (c *canvas) fitText(x, y, size int, weight, anchor, color string, mono bool, s string, maxW int) {
	shown := s
	if maxW > 0 {
		shown = fit(s, maxW, size)
	}
	attrs := fmt.Sprintf(`x="%d" y="%d" font-size="%d" fill="%s"`, x, y, size, color)
	if weight != "" {
		attrs += ` font-weight="` + weight + `"`
	}
	if anchor != "start" {
		attrs += ` text-anchor="` + anchor + `"`
	}
	if mono {
		attrs += ` font-family="DejaVu Sans Mono, Menlo, Consolas, monospace"`
	}
	if shown != s {
		c.printf("<text %s><title>%s</title>%s</text>\n", attrs, esc(s), esc(shown))
		return
	}
	c.printf("<text %s>%s</text>\n", attrs, esc(shown))
}

// fit cuts s with an ellipsis so that it is at most maxW pixels wide at the given size.
func fit(s string, maxW, size int) string {
	maxChars := int(float64(maxW) / (charW * float64(size)))
	if utf8.RuneCountInString(s) <= maxChars || maxChars < 2 {
		return s
	}
	r := []rune(s)
	return string(r[:maxChars-1]) + "…"
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // writing to a strings.Builder cannot fail
	return b.String()
}

func (c *canvas) box(id string, x, y, w, h int, p palette, dashed bool) {
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="6 4"`
	}
	c.printf(`<rect id="%s" x="%d" y="%d" width="%d" height="%d" rx="8" fill="%s" stroke="%s" stroke-width="1.5"%s/>`+"\n", esc(id), x, y, w, h, p.fill, p.stroke, dash)
}

func orUnnamed(name, kind string) string {
	if name == "" {
		return kind
	}
	return kind + " " + name
}

func (c *canvas) cluster(cl Cluster, x int, p palette) {
	c.printf(`<g id="cluster-%s">`+"\n", esc(cl.Key))
	c.box(cl.VNet.ID, x, vnetY, colW, vnetH, p, false)
	c.fitText(x+14, vnetY+24, 15, "bold", "start", p.text, false, cl.Label+" · "+cl.Role, colW-28)
	c.fitText(x+14, vnetY+44, fontSize, "", "start", p.text, false, orUnnamed(cl.VNet.Name, "VNet"), colW-28)
	c.fitText(x+14, vnetY+61, fontSize, "", "start", p.text, true, "address space "+cl.VNet.Prefix, colW-28)

	sx, sw := x+20, colW-40
	c.box(cl.Subnet.ID, sx, subnetY, sw, subnetH, palette{fill: "#ffffff", stroke: p.stroke, text: p.text}, true)
	c.fitText(sx+12, subnetY+20, fontSize, "", "start", p.text, false, orUnnamed(cl.Subnet.Name, "Subnet"), sw-24)
	c.fitText(sx+12, subnetY+37, fontSize, "", "start", p.text, true, "prefix "+cl.Subnet.Prefix, sw-24)

	vx, vw := x+30, colW-60
	c.printf(`<g id="%s-group" data-status="%s">`+"\n", esc(cl.VM.ID), esc(string(cl.VM.State.Status)))
	c.box(cl.VM.ID, vx, vmY, vw, vmH, palette{fill: p.fill, stroke: p.stroke}, false)
	c.fitText(vx+12, vmY+20, fontSize, "bold", "start", p.text, false, orUnnamed(cl.VM.Name, "VM"), vw-44)
	vmLine := "private IP " + cl.VM.IP
	if s := countersText(cl.VM.State); s != "" {
		vmLine += " · " + s
	}
	c.fitText(vx+12, vmY+38, fontSize, "", "start", p.text, true, vmLine, vw-24)
	c.statusDot(vx+vw-16, vmY+15, cl.VM.State)
	c.raw("</g>\n</g>\n")
}

// element draws a box with up to three lines and the live overlay: a status dot in the corner
// and the counters on the last line.
func (c *canvas) element(id string, x, y, w, h int, p palette, st State, lines []line) {
	c.printf(`<g id="%s-group" data-status="%s">`+"\n", esc(id), esc(string(st.Status)))
	c.box(id, x, y, w, h, p, false)
	ty := y + 22
	for i, l := range lines {
		weight := ""
		if l.bold {
			weight = "bold"
		}
		maxW := w - 24
		if i == 0 {
			maxW = w - 44 // room for the status dot
		}
		c.fitText(x+12, ty, fontSize, weight, "start", p.text, l.mono, l.text, maxW)
		ty += lineSpacing + 3
	}
	if s := liveLine(st); s != "" {
		c.fitText(x+12, y+h-12, smallSize, "", "start", liveColor(st), true, s, w-24)
	}
	c.statusDot(x+w-16, y+15, st)
	c.raw("</g>\n")
}

// liveColor is blue for figures and red when the element is down (the detail is then the reason).
func liveColor(st State) string {
	if st.Status == StatusDown {
		return "#a50e0e"
	}
	return "#1967d2"
}

func countersText(st State) string {
	parts := make([]string, 0, len(st.Counters))
	for _, k := range st.Counters {
		parts = append(parts, k.Name+" "+k.Value)
	}
	return strings.Join(parts, " · ")
}

func liveLine(st State) string {
	s := countersText(st)
	if st.Detail != "" {
		if s != "" {
			return st.Detail + " · " + s
		}
		return st.Detail
	}
	return s
}

func (c *canvas) statusDot(x, y int, st State) {
	if st.Status == StatusUnknown {
		return
	}
	color := "#1e8e3e"
	if st.Status == StatusDown {
		color = "#d93025"
	}
	c.printf(`<circle cx="%d" cy="%d" r="7" fill="%s" stroke="#ffffff" stroke-width="1.5" class="status-%s"><title>%s</title></circle>`+"\n",
		x, y, color, esc(string(st.Status)), esc(string(st.Status)))
}

func (c *canvas) peering(p Peering) {
	c.printf(`<g id="%s-group" data-status="%s">`+"\n", esc(p.ID), esc(string(p.State.Status)))
	// Double-headed connectors from the peering box to each VNet: peering is bidirectional.
	cy := peerY + 50
	c.arrow(peerX, cy, colAX+colW, cy, "arrow-peer", "#7a3ea1", false, 2)
	c.arrow(peerX+peerW, cy, colBX, cy, "arrow-peer", "#7a3ea1", false, 2)
	c.box(p.ID, peerX, peerY, peerW, peerH, colorPeering, false)
	cx := peerX + peerW/2
	c.fitText(cx, peerY+22, fontSize, "bold", "middle", colorPeering.text, false, "VNet peering", peerW-40)
	// One name per line: the halves are two resources, A's and B's.
	c.fitText(cx, peerY+40, smallSize, "", "middle", colorPeering.text, true, p.NameAToB, peerW-16)
	c.fitText(cx, peerY+56, smallSize, "", "middle", colorPeering.text, true, p.NameBToA, peerW-16)
	settings := []struct {
		name string
		on   bool
	}{
		{"virtual network access", p.AllowVirtualNetworkAccess},
		{"forwarded traffic", p.AllowForwardedTraffic},
		{"gateway transit", p.AllowGatewayTransit},
		{"use remote gateways", p.UseRemoteGateways},
	}
	y := peerY + 80
	for _, s := range settings {
		mark, color := "✗", "#a50e0e"
		if s.on {
			mark, color = "✓", "#137333"
		}
		c.printf(`<text x="%d" y="%d" font-size="%d" fill="%s" font-weight="bold">%s</text>`+"\n", peerX+14, y, smallSize, color, mark)
		c.fitText(peerX+32, y, smallSize, "", "start", colorPeering.text, false, s.name, peerW-46)
		y += 18
	}
	if s := liveLine(p.State); s != "" {
		c.fitText(cx, peerY+peerH-10, smallSize, "", "middle", liveColor(p.State), true, s, peerW-16)
	}
	c.statusDot(peerX+peerW-16, peerY+15, p.State)
	c.raw("</g>\n")
}

func (c *canvas) arrow(x1, y1, x2, y2 int, marker, color string, dashed bool, width float64) {
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="5 4"`
	}
	start := ""
	if marker == "arrow-peer" {
		start = ` marker-start="url(#arrow-peer)"`
	}
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%g"%s%s marker-end="url(#%s)"/>`+"\n",
		x1, y1, x2, y2, color, width, dash, start, marker)
}

// labelBox draws centred text lines on a white background so they stay readable over lines.
func (c *canvas) labelBox(cx, y int, lines []string, color string) {
	maxW := 0
	for _, l := range lines {
		if n := int(float64(utf8.RuneCountInString(l)+1) * charW * smallSize); n > maxW {
			maxW = n
		}
	}
	maxW = min(maxW, colBX-colAX-colW-20)
	h := len(lines)*16 + 6
	c.printf(`<rect x="%d" y="%d" width="%d" height="%d" rx="4" fill="#ffffff" stroke="%s" stroke-width="1"/>`+"\n", cx-maxW/2-8, y-14, maxW+16, h, color)
	for i, l := range lines {
		c.fitText(cx, y+i*16, smallSize, "bold", "middle", color, i > 0, l, maxW)
	}
}

func (c *canvas) ca(ca CA, x int, p palette) {
	w := colW - 80
	c.printf(`<g id="%s-group" data-status="%s">`+"\n", esc(ca.ID), esc(string(ca.State.Status)))
	c.box(ca.ID, x, caY, w, caH, p, false)
	c.fitText(x+12, caY+22, fontSize, "bold", "start", p.text, false, ca.Name, w-44)
	c.fitText(x+12, caY+42, fontSize, "", "start", p.text, false, ca.Issues, w-24)
	c.fitText(x+12, caY+61, fontSize, "", "start", p.text, false, ca.TrustedBy, w-24)
	if s := liveLine(ca.State); s != "" {
		c.fitText(x+12, caY+caH-10, smallSize, "", "start", liveColor(ca.State), true, s, w-24)
	}
	c.statusDot(x+w-16, caY+15, ca.State)
	c.raw("</g>\n")
}

func (c *canvas) trust(x, y1, y2 int, label string) {
	c.arrow(x, y1, x, y2, "arrow-trust", "#b36b00", true, 1.5)
	c.text(x+8, y2-14, smallSize, "", "start", "#6b4000", false, label)
}

func (c *canvas) legend(live bool) {
	y := svgH - 18
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#c5221f" stroke-width="2.5"/>`+"\n", colAX, y-4, colAX+28, y-4)
	c.text(colAX+34, y, smallSize, "", "start", "#3c4043", false, "MQTT data")
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#b36b00" stroke-width="1.5" stroke-dasharray="5 4"/>`+"\n", colAX+130, y-4, colAX+158, y-4)
	c.text(colAX+164, y, smallSize, "", "start", "#3c4043", false, "trusts root CA")
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#7a3ea1" stroke-width="2"/>`+"\n", colAX+280, y-4, colAX+308, y-4)
	c.text(colAX+314, y, smallSize, "", "start", "#3c4043", false, "VNet peering")
	if live {
		c.printf(`<circle cx="%d" cy="%d" r="6" fill="#1e8e3e"/>`+"\n", colAX+430, y-4)
		c.text(colAX+442, y, smallSize, "", "start", "#3c4043", false, "up")
		c.printf(`<circle cx="%d" cy="%d" r="6" fill="#d93025"/>`+"\n", colAX+480, y-4)
		c.text(colAX+492, y, smallSize, "", "start", "#3c4043", false, "down")
		c.text(svgW-20, y, smallSize, "", "end", "#5f6368", false, "live state")
	} else {
		c.text(svgW-20, y, smallSize, "", "end", "#5f6368", false, "from the configuration (no live state)")
	}
}
