package aio

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeCerts are recognisable stand-ins: the model copies bytes, it does not parse PEM.
func fakeCerts() *LinkCerts {
	pem := func(what string) []byte {
		return []byte("-----BEGIN CERTIFICATE-----\n" + what + "\n-----END CERTIFICATE-----\n")
	}
	return &LinkCerts{
		ServerChainPEM:        append(pem("server-leaf"), pem("server-intermediate")...),
		ServerKeyPEM:          []byte("-----BEGIN PRIVATE KEY-----\nserver-key\n-----END PRIVATE KEY-----\n"),
		ClientRootCAPEM:       pem("client-root"),
		ClientLeafPEM:         pem("client-leaf"),
		ClientKeyPEM:          []byte("-----BEGIN PRIVATE KEY-----\nclient-key\n-----END PRIVATE KEY-----\n"),
		ClientIntermediatePEM: pem("client-intermediate"),
		ServerRootCAPEM:       pem("server-root"),
	}
}

func testParams(anon bool) LinkParams {
	return LinkParams{ServerIP: netip.MustParseAddr("10.1.1.4"), AnonymousListener: anon, Certs: fakeCerts()}
}

func keyVaultParams() LinkParams {
	p := testParams(false)
	p.Certs = nil
	p.KeyVault = &KeyVaultParams{VaultName: "kv-myorga-dev-001", TenantID: "00000000-0000-0000-0000-000000000001",
		ClientID: "00000000-0000-0000-0000-000000000002", ConnectedClusterName: "arck-myorga-dev-001"}
	return p
}

type goldenCase struct {
	name string
	m    *Manifests
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"server.yaml", ServerResources(testParams(false))},
		{"server-anon.yaml", ServerResources(testParams(true))},
		{"client.yaml", ClientResources(testParams(false))},
		{"client-anon.yaml", ClientResources(testParams(true))},
		{"server-keyvault.yaml", ServerResources(keyVaultParams())},
		{"client-keyvault.yaml", ClientResources(keyVaultParams())},
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file %s (run go test -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (run go test ./internal/aio -update after checking the change):\n%s",
			path, cmp.Diff(string(want), string(got)))
	}
}

func TestGoldenYAML(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name, got)
		})
	}
}

var equateEmpty = cmpopts.EquateEmpty()

func TestRoundTrip(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseManifests(b)
			if err != nil {
				t.Fatalf("parse what YAML rendered: %v", err)
			}
			if d := cmp.Diff(tc.m, back, equateEmpty); d != "" {
				t.Errorf("render → parse changed the manifests (-rendered +parsed):\n%s", d)
			}
			again, err := back.YAML()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, again) {
				t.Errorf("render → parse → render is not byte-stable")
			}
		})
	}
}

func TestSpecResources(t *testing.T) {
	s := ServerResources(testParams(false))
	if len(s.Listeners) != 2 || s.Listeners[1].Metadata.Name != "default-loadbalancer" {
		t.Fatalf("server listeners = %v, want default and default-loadbalancer", s)
	}
	lb := s.Listeners[1].Spec
	if lb.ServiceType != "LoadBalancer" || lb.ServiceName != "aio-broker-loadbalancer" || len(lb.Ports) != 1 {
		t.Errorf("server listener spec = %+v", lb)
	}
	port := lb.Ports[0]
	if port.Port != 28883 || port.AuthenticationRef != "cert-auth" || port.TLS.Mode != "Manual" || port.TLS.Manual.SecretRef != "broker-tls-cert" {
		t.Errorf("server port = %+v tls %+v", port, port.TLS)
	}
	if got := s.Authentications[1].Spec.AuthenticationMethods[0]; got.Method != "X509" || got.X509Settings.TrustedClientCaCert != "client-ca" {
		t.Errorf("cert-auth = %+v", got)
	}
	if len(ServerResources(testParams(true)).Listeners) != 3 {
		t.Errorf("anonymous listener missing when AnonymousListener is set")
	}

	p := testParams(false)
	p.Port = 8883
	p.ServerIP = netip.MustParseAddr("192.168.1.4")
	c := ClientResources(p)
	ep := c.Endpoints[1].Spec.MqttSettings
	if ep.Host != "192.168.1.4:8883" || *ep.QoS != 1 || *ep.KeepAliveSeconds != 60 || *ep.MaxInflightMessages != 100 ||
		*ep.SessionExpirySeconds != 3600 || ep.Retain != "Keep" || ep.ClientIDPrefix != "client-cert-auth" ||
		ep.Authentication.X509CertificateSettings.SecretRef != "client-secret" || ep.TLS.TrustedCaCertificateConfigMapRef != "tls-ca-configmap" {
		t.Errorf("remote endpoint = %+v", ep)
	}
	df := c.Dataflows[0].Spec
	if df.Operations[0].SourceSettings.DataSources[0] != "input" || df.Operations[2].DestinationSettings.DataDestination != "output" ||
		df.Operations[2].DestinationSettings.EndpointRef != "mqtt-cert-auth" || df.Operations[1].BuiltInTransformationSettings.Map[0].Type != "PassThrough" {
		t.Errorf("dataflow = %+v", df)
	}
	if err := (LinkParams{}).Validate(); err == nil || !strings.Contains(err.Error(), "ServerIP") {
		t.Errorf("Validate of empty params = %v, want a ServerIP error", err)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	m := ServerResources(testParams(false))
	for _, s := range []string{
		fmt.Sprint(m), fmt.Sprintf("%v", *m), fmt.Sprintf("%+v", *m), fmt.Sprintf("%#v", m.Secrets), fmt.Sprint(m.Secrets[0]),
		fmt.Sprintf("%v", testParams(false)), fmt.Sprintf("%+v", testParams(false)),
	} {
		if strings.Contains(s, "server-key") || strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("key material printed: %s", s)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"unknown kind": {
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
			want: []string{"document 2", `"Deployment"`},
		},
		"unknown field": {
			in:   "apiVersion: mqttbroker.iotoperations.azure.com/v1\nkind: BrokerListener\nmetadata: {name: l}\nspec:\n  ports: [{port: 1, protocl: Mqtt}]\n",
			want: []string{"document 1", "protocl"},
		},
		"wrong apiVersion": {
			in:   "apiVersion: connectivity.iotoperations.azure.com/v1\nkind: BrokerListener\nmetadata: {name: l}\nspec: {ports: []}\n",
			want: []string{"document 1", "mqttbroker.iotoperations.azure.com/v1"},
		},
		"no name": {
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
			want: []string{"metadata.name"},
		},
		"no kind": {
			in:   "---\n# only comments\n---\napiVersion: v1\n",
			want: []string{"document 3", "kind"},
		},
		"bad base64": {
			in:   "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: '!!notbase64'}\n",
			want: []string{"document 1", "Secret"},
		},
		"wrong type": {
			in:   "apiVersion: connectivity.iotoperations.azure.com/v1\nkind: DataflowProfile\nmetadata: {name: p}\nspec: {instanceCount: many}\n",
			want: []string{"instanceCount"},
		},
		"not yaml": {
			in:   "apiVersion: v1\nkind: [\n",
			want: []string{"document 1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseManifests([]byte(tc.in))
			if err == nil {
				t.Fatal("ParseManifests succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseStringDataAndEmptyDocs(t *testing.T) {
	in := "# leading comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\ndata: {a: YQ==}\nstringData: {b: bee, a: override}\n---\n---   \n"
	m, err := ParseManifests([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 {
		t.Fatalf("got %d objects, want 1", m.Len())
	}
	s := m.Secrets[0]
	if string(s.Data["a"]) != "override" || string(s.Data["b"]) != "bee" || s.StringData != nil {
		t.Errorf("stringData not merged into data as Kubernetes does: %v", s.Data)
	}
}

// FuzzParseManifests checks that whatever parses renders and parses back unchanged. The
// seeds are whole cluster manifests, so minimising an interesting input takes long: run it
// with a short -fuzzminimizetime, e.g.
//
//	go test ./internal/aio -run XXX -fuzz FuzzParseManifests -fuzztime 60s -fuzzminimizetime 3s
func FuzzParseManifests(f *testing.F) {
	for _, tc := range goldenCases() {
		b, err := tc.m.YAML()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {k: v}\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("apiVersion: connectivity.iotoperations.azure.com/v1\nkind: DataflowEndpoint\nmetadata: {name: k}\nspec: {endpointType: Kafka, kafkaSettings: {host: 'h:9093', batching: {latencyMs: 5}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifests(data)
		if err != nil {
			return
		}
		// Whatever parses must render, and the rendering must parse back to the same objects.
		b, err := m.YAML()
		if err != nil {
			t.Fatalf("parsed manifests do not render: %v", err)
		}
		back, err := ParseManifests(b)
		if err != nil {
			t.Fatalf("rendered manifests do not parse: %v\n%s", err, b)
		}
		if d := cmp.Diff(m, back, equateEmpty); d != "" {
			t.Fatalf("parse → render → parse changed the manifests:\n%s", d)
		}
	})
}

func TestAppend(t *testing.T) {
	m := ServerResources(testParams(false))
	n := m.Len()
	m.Append(ClientResources(testParams(false)))
	if want := n + ClientResources(testParams(false)).Len(); m.Len() != want {
		t.Errorf("Len after Append = %d, want %d", m.Len(), want)
	}
}
