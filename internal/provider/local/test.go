package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualpeer/dualpeer/internal/agent"
	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/netcheck"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// labEnv probes from inside the lab's VM namespaces; nothing is sent from the host namespace.
type labEnv struct{ names netlab.Names }

func (e labEnv) ns(cluster string) (string, error) {
	cn, ok := e.names.Cluster(cluster)
	if !ok {
		return "", fmt.Errorf("unknown cluster %q: use a or b", cluster)
	}
	return cn.VMNS, nil
}

func (e labEnv) Dial(ctx context.Context, cluster, network, addr string) (net.Conn, error) {
	ns, err := e.ns(cluster)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	// The socket is created inside the namespace and stays there; it may be used from any
	// goroutine afterwards.
	err = netlab.Do(ns, func() error {
		var d net.Dialer
		var derr error
		conn, derr = d.DialContext(ctx, network, addr)
		return derr
	})
	return conn, err
}

func (e labEnv) Ping(ctx context.Context, cluster string, to netip.Addr) error {
	ns, err := e.ns(cluster)
	if err != nil {
		return err
	}
	out, err := netlab.Command(ctx, ns, "ping", "-c", "1", "-W", "1", "-n", to.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("no reply from %s (%s)", to, lastLine(string(out)))
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Test runs the spec's connectivity test against the deployment.
func (p *Provider) Test(ctx context.Context) (*netcheck.Report, error) {
	d, err := p.Load()
	if err != nil {
		return nil, err
	}
	return p.test(ctx, d)
}

func (p *Provider) test(ctx context.Context, d *Deployment) (*netcheck.Report, error) {
	in, err := p.checkInput(d)
	if err != nil {
		return nil, err
	}
	return netcheck.Run(ctx, labEnv{names: d.Topology.Names()}, *in), nil
}

// checkInput uses exactly what Cluster B holds (its client secret and trusted CA config map),
// so the test sees the cluster's view, not a copy that could differ.
func (p *Provider) checkInput(d *Deployment) (*netcheck.Input, error) {
	cfg := d.Config
	b := clusterStore{dir: p.lay.cluster("b")}
	rootPEM, err := agent.ReadConfigMapPEM(filepath.Join(b.configMapsDir(), cfg.SiteTLSCAConfigMapName))
	if err != nil {
		return nil, fmt.Errorf("read Cluster B's trusted CA config map: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		return nil, fmt.Errorf("Cluster B's config map %s holds no PEM certificate", cfg.SiteTLSCAConfigMapName)
	}
	f := p.clientFiles()
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("load the client certificate %s: %w", f.ClientCert, err)
	}
	in := &netcheck.Input{
		AVM: d.Topology.A.VMAddr, BVM: d.Topology.B.VMAddr, Port: cfg.EnterpriseBrokerPort,
		ServerRoots: roots, ClientCert: cert,
		InputTopic: aio.SourceTopic, OutputTopic: aio.DestinationTopic,
		AllowVirtualNetworkAccess: d.Topology.Peering.AllowVirtualNetworkAccess,
	}
	if cfg.ShouldCreateAnonymousBrokerListener {
		in.BLocalAddr = fmt.Sprintf("127.0.0.1:%d", aio.AnonymousPort)
	} else {
		// The default listener, TLS with Cluster B's own AIO CA.
		caPEM, err := os.ReadFile(filepath.Join(p.lay.material(), "cluster-b", pki.SecretAIORootCACert))
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		in.BLocalAddr = fmt.Sprintf("127.0.0.1:%d", aio.DefaultPort)
		in.BLocalTLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "127.0.0.1"}
	}
	return in, nil
}
