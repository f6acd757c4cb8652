package standin

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/dataflow"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// Ports are dualpeer's: A's X.509 listener and the anonymous local listener.
const (
	X509Port = 28883
	AnonPort = 18884
)

// Main is the `standin` child: it runs one cluster's broker (and on B the dataflow to A),
// prints {"event":"ready"} and serves until ctx ends (SIGTERM).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "a (server) or b (client + dataflow)")
	aIP := fs.String("a-ip", "10.1.1.4", "Cluster A's VM private IP")
	certs := fs.String("certs", "", "certificate directory (pki.WriteDir layout)")
	data := fs.String("data", "", "broker data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(*certs, name)) }
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	aAddr := net.JoinHostPort(*aIP, fmt.Sprint(X509Port))
	var cfg broker.Config
	switch *role {
	case "a":
		cert, err1 := read(pki.FileServerLeafCert)
		key, err2 := read(pki.FileServerLeafKey)
		ca, err3 := read(pki.FileClientRootCert)
		if err := firstErr(err1, err2, err3); err != nil {
			return fmt.Errorf("stand-in A: read certificates: %w", err)
		}
		cfg = broker.Config{DataDir: *data, Listeners: []broker.Listener{
			{Name: "default-loadbalancer", Addr: aAddr, Auth: broker.AuthX509, TLS: &broker.TLSConfig{CertPEM: cert, KeyPEM: key, ClientCAPEM: ca}},
			{Name: "default-anon", Addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(AnonPort))},
		}}
	case "b":
		cfg = broker.Config{DataDir: *data, Listeners: []broker.Listener{{Name: "default-anon", Addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(AnonPort))}}}
	default:
		return fmt.Errorf("-role %q: use a or b", *role)
	}
	b, err := broker.New(cfg, log, nil)
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	defer b.Close()
	if *role == "b" {
		root, err1 := read(pki.FileServerRootCert)
		cert, err2 := read(pki.FileClientLeafCert)
		key, err3 := read(pki.FileClientLeafKey)
		if err := firstErr(err1, err2, err3); err != nil {
			return fmt.Errorf("stand-in B: read certificates: %w", err)
		}
		eng, err := dataflow.NewEngine(dataflow.Local{Dial: b.DialInProcess, Attach: b}, log, nil)
		if err != nil {
			return err
		}
		defer eng.Close()
		// The spec's dataflow: input on B's broker → output on A's, X.509 over TLS, QoS 1.
		if err := eng.Apply(ctx, []dataflow.Dataflow{{
			Name: "client-to-server-cert-auth", Source: dataflow.Endpoint{Name: "default", Local: true}, SourceTopics: []string{"input"},
			Map: []dataflow.MapRule{{Type: "PassThrough", Inputs: []string{"*"}, Output: "*"}},
			Destination: dataflow.Endpoint{Name: "mqtt-cert-auth", Host: aAddr, TLS: true, TrustedCAPEM: root,
				ClientCertPEM: cert, ClientKeyPEM: key, QoS: 1},
			DestinationTopic: "output",
		}}); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, `{"event":"ready"}`)
	<-ctx.Done()
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
