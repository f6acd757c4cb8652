package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// Target is one MQTT broker endpoint and how to reach it.
type Target struct {
	Addr     string      // host:port, an IP literal (a name would be resolved in other threads)
	TLS      *tls.Config // nil: plain TCP
	ClientID string
	// Dial opens the TCP connection; nil uses net.Dialer. The benchmark runs the whole process
	// inside the lab namespace, so the default is right there.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// TLSFromFiles builds the client side of mutual TLS: trust caFile (PEM, the server's root),
// present certFile (PEM, leaf first, then intermediates) with keyFile, and expect serverName
// (an IP address or a DNS name) in the server certificate.
func TLSFromFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the server root CA %s: %w", caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("server root CA file %s holds no PEM certificate: pass the CA bundle (server_root_ca in `dualpeer output -json`)", caFile)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		// Not wrapping the key's content: tls errors never include key material.
		return nil, fmt.Errorf("load the client certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{pair},
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// connect dials t, runs the TLS handshake if asked, and completes an MQTT 5 CONNECT.
// handlers receive incoming PUBLISH packets (subscribers); receiveMax bounds what the broker
// may have unacknowledged towards us.
func connect(ctx context.Context, t Target, cleanStart bool, receiveMax uint16, handlers []func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	dial := t.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to MQTT broker %s: %w (is the broker running and is this process inside the right network namespace?)", t.Addr, err)
	}
	if t.TLS != nil {
		tc := tls.Client(conn, t.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w (check the client certificate and the server root CA)", t.Addr, err)
		}
		conn = tc
	}
	errs := make(chan error, 1)
	c := paho.NewClient(paho.ClientConfig{
		// tls.Conn is not safe for concurrent writes: publishes, acks and pings come from
		// different goroutines.
		Conn:              packets.NewThreadSafeConn(conn),
		OnPublishReceived: handlers,
		PacketTimeout:     60 * time.Second,
		OnClientError: func(err error) {
			select {
			case errs <- err:
			default:
			}
		},
	})
	cp := &paho.Connect{
		ClientID:   t.ClientID,
		CleanStart: cleanStart,
		KeepAlive:  30,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &receiveMax},
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("MQTT CONNECT to %s as %q: %w", t.Addr, t.ClientID, err)
	}
	if ca.ReasonCode != 0 {
		conn.Close()
		reason := ""
		if ca.Properties != nil {
			reason = ca.Properties.ReasonString
		}
		return nil, fmt.Errorf("MQTT CONNECT to %s as %q refused: reason code %d %s", t.Addr, t.ClientID, ca.ReasonCode, reason)
	}
	return c, nil
}
