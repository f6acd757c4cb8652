package agent

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// writeCluster lays out a cluster directory the way the local deployer does: secrets and
// config maps as files, the AIO resources (without secret data) as YAML.
func writeCluster(t *testing.T, m *aio.Manifests) clusterDir {
	t.Helper()
	dir := t.TempDir()
	for _, s := range m.Secrets {
		for k, v := range s.Data {
			p := filepath.Join(dir, "secrets", s.Metadata.Name, k)
			os.MkdirAll(filepath.Dir(p), 0o700)
			if err := os.WriteFile(p, v, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range m.ConfigMaps {
		for k, v := range c.Data {
			p := filepath.Join(dir, "configmaps", c.Metadata.Name, k)
			os.MkdirAll(filepath.Dir(p), 0o700)
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{DefaultListenerSecret} {
		p := filepath.Join(dir, "secrets", name)
		os.MkdirAll(p, 0o700)
		os.WriteFile(filepath.Join(p, aio.KeyTLSCert), []byte("cert"), 0o600)
		os.WriteFile(filepath.Join(p, aio.KeyTLSKey), []byte("key"), 0o600)
	}
	y, err := m.WithoutCoreObjects().YAML()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "manifests"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "manifests", "aio.yaml"), y, 0o644); err != nil {
		t.Fatal(err)
	}
	return clusterDir{root: dir, listenHost: "0.0.0.0"}
}

func linkParams(t *testing.T, anon bool) aio.LinkParams {
	t.Helper()
	ip := netip.MustParseAddr("10.1.1.4")
	m, err := pki.Generate(context.Background(), pki.Options{ServerIP: ip})
	if err != nil {
		t.Fatal(err)
	}
	sk, _ := pki.EncodeKey(m.Server.LeafKey)
	ck, _ := pki.EncodeKey(m.Client.LeafKey)
	return aio.LinkParams{ServerIP: ip, AnonymousListener: anon, Certs: &aio.LinkCerts{
		ServerChainPEM: m.Server.BundlePEM(), ServerKeyPEM: sk, ClientRootCAPEM: pki.EncodeCerts(m.Client.Root),
		ClientLeafPEM: pki.EncodeCerts(m.Client.Leaf), ClientKeyPEM: ck, ClientIntermediatePEM: pki.EncodeCerts(m.Client.Intermediate),
		ServerRootCAPEM: pki.EncodeCerts(m.Server.Root),
	}}
}

func TestDesiredServerCluster(t *testing.T) {
	for _, anon := range []bool{false, true} {
		p := linkParams(t, anon)
		d, err := writeCluster(t, aio.ServerResources(p)).desired()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]broker.Listener{}
		for _, l := range d.Broker.Listeners {
			got[l.Name] = l
		}
		x := got["default-loadbalancer:28883"]
		if x.Addr != "0.0.0.0:28883" || x.Auth != broker.AuthX509 || x.TLS == nil ||
			string(x.TLS.ClientCAPEM) != string(p.Certs.ClientRootCAPEM) || string(x.TLS.CertPEM) != string(p.Certs.ServerChainPEM) {
			t.Errorf("X.509 listener mapped wrong: %+v", x)
		}
		def := got["default:18883"]
		if def.Addr != "127.0.0.1:18883" || def.TLS == nil || string(def.TLS.CertPEM) != "cert" {
			t.Errorf("default listener (ClusterIp, SAT, TLS Automatic) must bind loopback with the AIO CA secret: %+v", def)
		}
		an, ok := got["default-anon:18884"]
		if ok != anon {
			t.Fatalf("anonymous listener present=%v, want %v", ok, anon)
		}
		if anon && (an.TLS != nil || an.Auth != broker.AuthAnonymous || an.Addr != "0.0.0.0:18884") {
			t.Errorf("anonymous listener mapped wrong: %+v", an)
		}
		if len(d.Dataflows) != 0 {
			t.Errorf("server cluster has dataflows: %+v", d.Dataflows)
		}
	}
}

func TestDesiredClientCluster(t *testing.T) {
	p := linkParams(t, true)
	d, err := writeCluster(t, aio.ClientResources(p)).desired()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Dataflows) != 1 {
		t.Fatalf("dataflows: %+v", d.Dataflows)
	}
	f := d.Dataflows[0]
	if f.Name != aio.LinkDataflowName || !f.Source.Local || strings.Join(f.SourceTopics, ",") != "input" || f.DestinationTopic != "output" {
		t.Errorf("dataflow mapped wrong: %+v", f)
	}
	dst := f.Destination
	if dst.Local || dst.Host != "10.1.1.4:28883" || !dst.TLS || dst.QoS != 1 || dst.MaxInflight != 100 ||
		dst.KeepAlive.Seconds() != 60 || dst.SessionExpiry.Seconds() != 3600 || dst.ClientIDPrefix != "client-cert-auth" {
		t.Errorf("remote endpoint mapped wrong: %+v", dst)
	}
	if string(dst.TrustedCAPEM) != string(p.Certs.ServerRootCAPEM) {
		t.Error("remote endpoint does not trust the server root from tls-ca-configmap")
	}
	if !strings.Contains(string(dst.ClientCertPEM), strings.TrimSpace(string(p.Certs.ClientIntermediatePEM))) {
		t.Error("client certificate sent without its intermediate: A could not build the chain")
	}
	if len(f.Map) != 1 || f.Map[0].Type != "PassThrough" {
		t.Errorf("map: %+v", f.Map)
	}
}

func TestDesiredNamesMissingObjects(t *testing.T) {
	p := linkParams(t, false)
	c := writeCluster(t, aio.ClientResources(p))
	os.RemoveAll(c.path("secrets", "client-secret"))
	os.RemoveAll(c.path("configmaps", "tls-ca-configmap"))
	_, err := c.desired()
	if err == nil || !strings.Contains(err.Error(), "tls-ca-configmap") {
		t.Fatalf("want an error naming the missing config map, got %v", err)
	}
}
