package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tlsCert turns a chain's leaf bundle and key into what crypto/tls sends: the leaf file as is.
func tlsCert(ch *Chain) tls.Certificate {
	c := tls.Certificate{PrivateKey: ch.LeafKey, Leaf: ch.Leaf}
	for _, x := range ch.Bundle() {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

func pool(cs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p
}

// handshake runs one mutual-TLS exchange on 127.0.0.1 the way the link is set up: the broker
// (server) presents the server leaf bundle and requires a client certificate chaining to the
// client root; the dataflow (client) presents the client leaf bundle and trusts the server root,
// checking the server IP SAN. It returns the server's and the client's errors.
func handshake(t *testing.T, server, client *Material, serverName string) (srvErr, cliErr error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{tlsCert(&server.Server)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(server.Client.Root),
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		tc := c.(*tls.Conn)
		if err := tc.HandshakeContext(ctx); err != nil {
			done <- err
			return
		}
		_, err = tc.Write([]byte("ok"))
		done <- err
	}()
	d := tls.Dialer{Config: &tls.Config{
		Certificates: []tls.Certificate{tlsCert(&client.Client)},
		RootCAs:      pool(client.Server.Root),
		// The leaf is made for A's VM IP; the test dials loopback but checks that IP, as a
		// client dialing A would.
		ServerName: serverName,
		MinVersion: tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		// With TLS 1.3 the server checks the client certificate after the client's handshake
		// completes; reading surfaces its verdict.
		buf := make([]byte, 2)
		_, err = io.ReadFull(conn, buf)
		conn.Close()
	}
	return <-done, err
}

func TestMutualTLSHandshake(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			m := material(t, mode)
			if srv, cli := handshake(t, m, m, testServerIP.String()); srv != nil || cli != nil {
				t.Fatalf("handshake failed: server: %v; client: %v", srv, cli)
			}
		})
		t.Run(string(mode)+"/client cert from another CA", func(t *testing.T) {
			t.Parallel()
			m, other := material(t, mode), foreignMaterial(t, mode)
			// The client trusts the right server root but presents a leaf of another client CA.
			mixed := &Material{Server: m.Server, Client: other.Client}
			srv, cli := handshake(t, m, mixed, testServerIP.String())
			var ua x509.UnknownAuthorityError
			if !errors.As(srv, &ua) {
				t.Fatalf("server error = %v, want an unknown authority error", srv)
			}
			if cli == nil {
				t.Fatal("client saw no error although the server rejected its certificate")
			}
		})
		t.Run(string(mode)+"/wrong server IP", func(t *testing.T) {
			t.Parallel()
			m := material(t, mode)
			_, cli := handshake(t, m, m, "10.1.1.5")
			var he x509.HostnameError
			if !errors.As(cli, &he) {
				t.Fatalf("client error = %v, want a hostname (IP SAN) error", cli)
			}
		})
	}
}

// TestClusterCAListenerHandshake checks the per-cluster AIO CA: a listener certificate it issues
// is accepted by a client trusting only the AIO root (the 18883 listener, TLS Automatic).
func TestClusterCAListenerHandshake(t *testing.T) {
	t.Parallel()
	ca, err := NewClusterCA(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := ClusterCAFromSecrets(ca.Secrets())
	if err != nil {
		t.Fatalf("reload from its secrets: %v", err)
	}
	is, err := ca2.IssueServer([]string{"aio-broker", "aio-broker.azure-iot-operations", "127.0.0.1"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ps := Verify(VerifyOptions{Root: ca.Root, Leaf: append([]*x509.Certificate{is.Cert}, is.Chain...), Key: is.Key, Usage: UsageServer}); len(ps) > 0 {
		t.Fatalf("listener certificate problems: %v", ps)
	}
	keyPEM, err := is.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(is.CertPEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	roots, err := ParseCerts(is.CAPEM())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{RootCAs: pool(roots...), ServerName: "aio-broker"})
	if err != nil {
		t.Fatalf("client rejected the listener certificate: %v", err)
	}
	c.Close()
	if ca.Root.Subject.CommonName != ClusterRootCN || ca.Intermediate.Subject.CommonName != ClusterIntermediateCN {
		t.Errorf("cluster CA names = %q, %q", ca.Root.Subject.CommonName, ca.Intermediate.Subject.CommonName)
	}
	if d := ca.Intermediate.NotAfter.Sub(ca.Intermediate.NotBefore); d != 8760*time.Hour {
		t.Errorf("AIO intermediate validity = %s, want 8760h", d)
	}
}
