package broker_test

import (
	"context"
	"crypto/x509"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// TestRotatedLeafRefused: after `certs rotate`, the client CA bundle carries a CRL signed by the
// client intermediate; the broker refuses the replaced leaf and accepts the new one. A CRL
// signed by another CA revokes nothing.
func TestRotatedLeafRefused(t *testing.T) {
	m, err := hostileMaterial()
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, err := pki.Rotate(context.Background(), m, pki.Options{})
	if err != nil {
		t.Fatal(err)
	}
	crl, err := rotated.ClientCRL(time.Now())
	if err != nil || len(crl) == 0 {
		t.Fatalf("client CRL: %v (%d bytes)", err, len(crl))
	}
	// A foreign CA's CRL that lists the NEW leaf's serial: must be ignored.
	other, err := pki.Generate(context.Background(), pki.Options{ServerIP: m.ServerIP})
	if err != nil {
		t.Fatal(err)
	}
	other.RevokedClientSerials = []string{pki.Describe(rotated.Client.Leaf).Serial}
	foreign, err := other.ClientCRL(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodeKey(m.Server.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	bundle := append(append(pki.EncodeCerts(m.Client.Root), crl...), foreign...)
	b, err := broker.New(broker.Config{Listeners: []broker.Listener{{
		Name: "default", Addr: "127.0.0.1:0", Auth: broker.AuthX509,
		TLS: &broker.TLSConfig{CertPEM: m.Server.BundlePEM(), KeyPEM: keyPEM, ClientCAPEM: bundle},
	}}}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pool := x509.NewCertPool()
	pool.AddCert(m.Server.Root)
	e := &hostileEnv{addr: b.Addr("default"), serverCAs: pool}
	if ok, detail := tryConnect(e.addr, e.tlsConfig(tlsCert(t, rotated.Client.Bundle(), rotated.Client.LeafKey))); !ok {
		t.Fatalf("the new leaf is refused: %s", detail)
	}
	if ok, detail := tryConnect(e.addr, e.tlsConfig(tlsCert(t, m.Client.Bundle(), m.Client.LeafKey))); ok {
		t.Fatalf("the leaf replaced by rotate is still accepted: %s", detail)
	} else {
		t.Logf("replaced leaf refused: %s", detail)
	}
}
