package faults

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/pki"
)

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session.
func connectPacket(clientID string) []byte {
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, byte(len(clientID) >> 8), byte(len(clientID))}, clientID...)
	return append([]byte{0x10, byte(len(body))}, body...)
}

// mqttConnect sends CONNECT over c and reports whether a successful CONNACK came back, and why
// not. A TLS 1.3 server refuses a client certificate after the client's handshake is done, so a
// refusal may only show on this first read.
func mqttConnect(c net.Conn) (bool, string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(connectPacket("faults-probe")); err != nil {
		return false, "write CONNECT: " + err.Error()
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return false, "read CONNACK: " + err.Error()
	}
	return b[0] == 0x20 && b[3] == 0, fmt.Sprintf("CONNACK % x", b)
}

// tryTLS connects from namespace ns to addr with cfg and tries an MQTT CONNECT.
func tryTLS(ns, addr string, cfg *tls.Config) (bool, string) {
	raw, err := dialIn(ns, addr)
	if err != nil {
		return false, "dial: " + err.Error()
	}
	tc := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return false, "handshake: " + err.Error()
	}
	return mqttConnect(tc)
}

// tryPlain connects from namespace ns to addr without TLS and tries an MQTT CONNECT.
func tryPlain(ns, addr string) (bool, string) {
	c, err := dialIn(ns, addr)
	if err != nil {
		return false, "dial: " + err.Error()
	}
	return mqttConnect(c)
}

// checkListenerSecurity probes A's listeners of a running deployment from B's VM namespace, as
// Cluster B's dataflow (or an intruder in B's network) would: only the client leaf gets through
// A's X.509 listener; the anonymous listener answers only when enabled.
func checkListenerSecurity(t *testing.T, o outputs, anonymousEnabled bool) {
	t.Helper()
	good := newStream(t, nil, o, 1, 1).subTLS
	foreign, err := pki.Generate(context.Background(), pki.Options{Mode: pki.ModeStep, ServerIP: netip.MustParseAddr(o.AIP)})
	if err != nil {
		t.Fatal(err)
	}
	foreignCert := tls.Certificate{PrivateKey: foreign.Client.LeafKey}
	for _, c := range foreign.Client.Bundle() {
		foreignCert.Certificate = append(foreignCert.Certificate, c.Raw)
	}
	cfg := func(mod func(*tls.Config)) *tls.Config {
		c := good.Clone()
		mod(c)
		return c
	}
	serverAddr := net.JoinHostPort(o.AIP, aServerPort)
	cases := []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"the client leaf", good, true},
		{"no client certificate", cfg(func(c *tls.Config) { c.Certificates = nil }), false},
		{"a client leaf of another CA", cfg(func(c *tls.Config) { c.Certificates = []tls.Certificate{foreignCert} }), false},
		{"TLS 1.1", cfg(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }), false},
		{"TLS 1.3", cfg(func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 }), true},
	}
	for _, tc := range cases {
		ok, detail := tryTLS(o.BNS, serverAddr, tc.cfg)
		t.Logf("A's X.509 listener from B's VM, %s: accepted=%v (%s)", tc.name, ok, detail)
		if ok != tc.ok {
			t.Errorf("A's X.509 listener %s from B's VM with %s: accepted=%v, want %v (%s)", serverAddr, tc.name, ok, tc.ok, detail)
		}
	}
	if ok, detail := tryPlain(o.BNS, serverAddr); ok {
		t.Errorf("A's X.509 listener accepted plain MQTT from B's VM: %s", detail)
	}
	anon := net.JoinHostPort(o.AIP, "18884")
	ok, detail := tryPlain(o.BNS, anon)
	t.Logf("A's anonymous port %s from B's VM: accepted=%v (%s)", anon, ok, detail)
	if ok != anonymousEnabled {
		t.Errorf("A's anonymous port %s from B's VM: accepted=%v, want %v (should_create_anonymous_broker_listener=%v): %s", anon, ok, anonymousEnabled, anonymousEnabled, detail)
	}
	for _, ns := range []string{o.ANS, o.BNS} {
		ok, detail := tryPlain(ns, bAnonymousAddr)
		if ok != anonymousEnabled {
			t.Errorf("%s in %s: accepted=%v, want %v (should_create_anonymous_broker_listener=%v): %s", bAnonymousAddr, ns, ok, anonymousEnabled, anonymousEnabled, detail)
		}
	}
}

// TestAnonymousListenerOnlyWhenEnabled brings a deployment up with
// should_create_anonymous_broker_listener = false: no anonymous port answers in either VM, and
// A's X.509 listener still refuses everything but the client leaf. (The quick start, which
// enables it, is probed in TestStreamUnderFaults.)
func TestAnonymousListenerOnlyWhenEnabled(t *testing.T) {
	d := newDeployment(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tfvars := d.dir + "/anon-off.tfvars"
	if err := os.WriteFile(tfvars, []byte("environment = \"dev\"\nresource_prefix = \"dp\"\nlocation = \"local\"\nshould_create_anonymous_broker_listener = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := d.cmd(ctx, "up", "-var-file", tfvars)
	if r.code != 0 {
		t.Fatalf("%s exited %d:\n%s", r, r.code, lastLines(r.output(), 30))
	}
	o := d.outputs(ctx)
	checkListenerSecurity(t, o, false)
	st := d.cmd(ctx, "status")
	if strings.Contains(st.output(), "default-anon") {
		t.Errorf("status lists an anonymous listener although it is disabled:\n%s", st.output())
	}
	d.scanSecrets() // while the agents' logs exist; again below for down's output
	if r := d.cmd(ctx, "down"); r.code != 0 {
		t.Errorf("%s exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	d.scanSecrets()
}
