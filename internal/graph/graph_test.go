package graph

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

var update = flag.Bool("update", false, "rewrite golden files and the pictures under docs/")

// specExample is the configuration of the blueprint README's example deployment
// (`terraform plan -var … 192.168.1.0/24,/28 + 192.168.2.0/24,/28`).
func specExample() *blueprint.Config {
	c := blueprint.Default()
	c.Environment = "dev"
	c.ResourcePrefix = "myorg"
	c.Location = "eastus2"
	c.ShouldDeployCustomScripts = true
	c.UseTerraformCertificates = true
	c.ClusterAVirtualNetworkConfig = blueprint.VirtualNetworkConfig{AddressSpace: "192.168.1.0/24", SubnetAddressPrefix: "192.168.1.0/28"}
	c.ClusterBVirtualNetworkConfig = blueprint.VirtualNetworkConfig{AddressSpace: "192.168.2.0/24", SubnetAddressPrefix: "192.168.2.0/28"}
	return c
}

func liveModel() Model {
	m := FromConfig(blueprint.QuickStart())
	m.ApplyLive(Live{
		AgentA:       &State{Status: StatusUp, Counters: []Counter{{"uptime", "3m12s"}}},
		AgentB:       &State{Status: StatusUp},
		Peering:      &State{Status: StatusUp, Detail: "Connected"},
		Listener:     &State{Status: StatusUp, Counters: []Counter{{"clients", "1"}, {"msgs in", "1204"}}},
		AnonListener: &State{Status: StatusUp},
		Dataflow:     &State{Status: StatusUp, Counters: []Counter{{"rate", "12.0/s"}, {"queue", "0"}}},
		Endpoint:     &State{Status: StatusDown, Detail: "x509: certificate signed by unknown authority"},
		ClientCA:     &State{Counters: []Counter{{"expires", "2036-11-24"}}},
		ServerCA:     &State{Counters: []Counter{{"expires", "2036-11-24"}}},
	})
	return m
}

// hostileModel carries markup and quote characters in every kind of text the renderers print.
func hostileModel() Model {
	c := blueprint.QuickStart()
	c.ResourcePrefix = `x"<b>&`
	c.EnterpriseClientCAConfigMapName = `ca"]|#-->`
	m := FromConfig(c)
	m.Title = `</text><script>alert(1)</script> "quoted" & 'single' \ back`
	m.ApplyLive(Live{Dataflow: &State{Status: StatusDown, Detail: "<img src=x onerror=alert(1)>"}})
	return m
}

var renderers = map[string]func(io.Writer, Model) error{"svg": SVG, "dot": DOT, "mmd": Mermaid}

func TestGolden(t *testing.T) {
	t.Parallel()
	models := map[string]func() Model{
		"default":      func() Model { return FromConfig(blueprint.QuickStart()) },
		"blueprint":    func() Model { return FromConfig(blueprint.Default()) },
		"spec-example": func() Model { return FromConfig(specExample()) },
		"live":         liveModel,
		"hostile":      hostileModel,
	}
	for name, mk := range models {
		for ext, render := range renderers {
			t.Run(name+"."+ext, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				if err := render(&buf, mk()); err != nil {
					t.Fatalf("render: %v", err)
				}
				checkGolden(t, filepath.Join("testdata", name+"."+ext), buf.Bytes())
			})
		}
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s: %v (run `go test ./internal/graph -update` to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale or the renderer changed; check the difference and run `go test ./internal/graph -update`\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("first difference at line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return ""
}

// TestDocsPictures regenerates the pictures committed under docs/ and fails when they are stale.
func TestDocsPictures(t *testing.T) {
	t.Parallel()
	for file, cfg := range map[string]*blueprint.Config{
		// The configuration `dualpeer up` uses when given none.
		"topology-default.svg": blueprint.QuickStart(),
		// The blueprint README's example with the 192.168.x address spaces.
		"topology-spec-example.svg": specExample(),
	} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := SVG(&buf, FromConfig(cfg)); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("..", "..", "docs", file), buf.Bytes())
		})
	}
}

func TestSVGIsWellFormedAndEscaped(t *testing.T) {
	t.Parallel()
	for name, m := range map[string]Model{"hostile": hostileModel(), "live": liveModel()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := SVG(&buf, m); err != nil {
				t.Fatal(err)
			}
			d := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
			elements := map[string]int{}
			for i := 0; i < 100000; i++ {
				tok, err := d.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("SVG is not well-formed XML: %v", err)
				}
				if se, ok := tok.(xml.StartElement); ok {
					elements[se.Name.Local]++
				}
			}
			if elements["script"] != 0 || elements["img"] != 0 || elements["b"] != 0 {
				t.Errorf("text leaked into markup: elements %v", elements)
			}
			for _, id := range []string{IDVNetA, IDVNetB, IDSubnetA, IDSubnetB, IDVMA, IDVMB, IDPeering, IDListener, IDDataflow, IDEndpoint, IDClientCA, IDServerCA} {
				if !bytes.Contains(buf.Bytes(), []byte(`id="`+id+`"`)) {
					t.Errorf("SVG has no element with id %q", id)
				}
			}
		})
	}
}

func TestDOTAndMermaidEscape(t *testing.T) {
	t.Parallel()
	m := hostileModel()
	var dot, mmd bytes.Buffer
	if err := DOT(&dot, m); err != nil {
		t.Fatal(err)
	}
	if err := Mermaid(&mmd, m); err != nil {
		t.Fatal(err)
	}
	// Every DOT quoted string must close on the same line: an unescaped quote would open a new one.
	for i, l := range strings.Split(dot.String(), "\n") {
		unescaped := strings.Count(l, `"`) - strings.Count(l, `\"`)
		if unescaped%2 != 0 {
			t.Errorf("DOT line %d has an unbalanced quote: %s", i+1, l)
		}
	}
	for i, l := range strings.Split(mmd.String(), "\n") {
		if i < 3 { // YAML front matter, checked below
			continue
		}
		if strings.ContainsAny(l, "<>") && !strings.Contains(l, "<br/>") && !strings.Contains(l, "<==>") && !strings.Contains(l, "-->") && !strings.Contains(l, "==>") && !strings.Contains(l, "-.->") {
			t.Errorf("Mermaid line %d has raw markup: %s", i+1, l)
		}
		if strings.Count(l, `"`)%2 != 0 {
			t.Errorf("Mermaid line %d has an unbalanced quote: %s", i+1, l)
		}
	}
	if strings.Contains(mmd.String(), "<script>") {
		t.Error("Mermaid output contains a raw <script>")
	}
}

func TestFromConfig(t *testing.T) {
	t.Parallel()
	cfg := specExample()
	m := FromConfig(cfg)
	checks := map[string][2]string{
		"A vnet name":   {m.A.VNet.Name, cfg.Names("a").VNet},
		"B vm name":     {m.B.VM.Name, cfg.Names("b").VM},
		"A VM IP":       {m.A.VM.IP, "192.168.1.4"},
		"B VM IP":       {m.B.VM.IP, "192.168.2.4"},
		"endpoint host": {m.Dataflow.Host, "192.168.1.4:28883"},
		"A trusts":      {m.Listener.TrustedCA, "client-ca"},
		"B trusts":      {m.Dataflow.TrustedCA, "tls-ca-configmap"},
		"server SAN":    {m.ServerCA.Issues, "issues A's server cert (SAN 192.168.1.4)"},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if m.AnonListener != nil {
		t.Error("anonymous listener drawn although should_create_anonymous_broker_listener=false")
	}
	if !m.Peering.AllowVirtualNetworkAccess || !m.Peering.AllowForwardedTraffic || m.Peering.AllowGatewayTransit || m.Peering.UseRemoteGateways {
		t.Errorf("peering settings = %+v, want the blueprint's true,true,false,false", m.Peering)
	}
	if FromConfig(blueprint.QuickStart()).AnonListener == nil {
		t.Error("quick-start config enables the anonymous listener but the model has none")
	}
}

func TestApplyLiveCopiesCounters(t *testing.T) {
	t.Parallel()
	st := &State{Status: StatusUp, Counters: []Counter{{"rate", "1/s"}}}
	m := FromConfig(blueprint.QuickStart())
	m.ApplyLive(Live{Dataflow: st})
	st.Counters[0].Value = "changed"
	if got := m.Dataflow.State.Counters[0].Value; got != "1/s" {
		t.Errorf("model counter = %q after the caller changed its copy; ApplyLive must copy", got)
	}
	if !m.Live || m.Dataflow.State.Status != StatusUp || m.Listener.State.Status != StatusUnknown {
		t.Errorf("ApplyLive set the wrong elements: %+v", m)
	}
}

func BenchmarkSVG(b *testing.B) {
	m := liveModel()
	for b.Loop() {
		if err := SVG(io.Discard, m); err != nil {
			b.Fatal(err)
		}
	}
}
