package dataflow

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"
)

// RetainMode is the endpoint's retain setting.
type RetainMode string

const (
	RetainKeep  RetainMode = "Keep"  // forward the source message's retain flag
	RetainNever RetainMode = "Never" // always publish with retain false
)

// Endpoint is a DataflowEndpoint of type Mqtt.
type Endpoint struct {
	Name string
	// Local means "the agent's own broker", reached in-process (no network, no TLS,
	// no authentication). Host and the TLS fields are then ignored.
	Local bool
	Host  string // host:port of a remote broker

	TLS           bool
	TrustedCAPEM  []byte // trustedCaCertificateConfigMapRef content; nil = system roots
	ServerName    string // TLS server name; default: the host part of Host
	ClientCertPEM []byte // X509Certificate authentication: leaf (+ intermediates)
	ClientKeyPEM  []byte

	ClientIDPrefix string
	KeepAlive      time.Duration // default 60s
	MaxInflight    int           // maxInflightMessages; default 100
	QoS            byte          // default 1
	Retain         RetainMode    // default Keep
	SessionExpiry  time.Duration // default 3600s
}

// FilterRule is one BuiltInTransformation filter entry: when Expression is true for a
// message, the message is dropped (AIO's semantics); rules are ORed.
type FilterRule struct {
	Inputs     []string // JSON field paths, "a.b.c"; $1 is Inputs[0]
	Expression string   // e.g. "$1 > 20 && $2 == \"on\""
}

// MapRule is one BuiltInTransformation map entry. Only PassThrough "*" → "*" exists
// in the spec, and it is the only type supported.
type MapRule struct {
	Type   string // "PassThrough"
	Inputs []string
	Output string
}

// Dataflow is one Dataflow resource.
type Dataflow struct {
	Name             string
	Source           Endpoint
	SourceTopics     []string // dataSources: MQTT topic filters
	Filter           []FilterRule
	Map              []MapRule
	Destination      Endpoint
	DestinationTopic string // dataDestination; "${inputTopic}" is replaced by the source topic
	// Window is kept for compatibility and ignored: the engine holds at most the
	// destination's MaxInflight unacknowledged messages (see the package doc).
	Window int
}

func (e Endpoint) withDefaults() Endpoint {
	if e.KeepAlive == 0 {
		e.KeepAlive = 60 * time.Second
	}
	if e.MaxInflight <= 0 {
		e.MaxInflight = 100
	}
	if e.QoS == 0 {
		e.QoS = 1
	}
	if e.Retain == "" {
		e.Retain = RetainKeep
	}
	if e.SessionExpiry == 0 {
		e.SessionExpiry = time.Hour
	}
	return e
}

func (d Dataflow) withDefaults() Dataflow {
	d.Source = d.Source.withDefaults()
	d.Destination = d.Destination.withDefaults()
	if d.Window <= 0 {
		d.Window = max(2*d.Destination.MaxInflight, 16)
	}
	return d
}

// Validate reports every problem of the dataflow at once.
func (d Dataflow) Validate() error {
	var errs []error
	where := fmt.Sprintf("dataflow %q", d.Name)
	if d.Name == "" {
		errs = append(errs, errors.New("dataflow: empty name"))
	}
	if len(d.SourceTopics) == 0 {
		errs = append(errs, fmt.Errorf("%s: no dataSources; list at least one MQTT topic filter", where))
	}
	if d.DestinationTopic == "" {
		errs = append(errs, fmt.Errorf("%s: empty dataDestination; set the destination topic", where))
	}
	for _, m := range d.Map {
		if m.Type != "PassThrough" && m.Type != "" {
			errs = append(errs, fmt.Errorf("%s: map type %q is not supported locally; only PassThrough is", where, m.Type))
		}
	}
	for i, f := range d.Filter {
		if _, err := compileFilter(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: filter #%d: %w", where, i+1, err))
		}
	}
	for _, ep := range []struct {
		role string
		e    Endpoint
	}{{"source", d.Source}, {"destination", d.Destination}} {
		if err := ep.e.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s endpoint %q: %w", where, ep.role, ep.e.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (e Endpoint) validate() error {
	if e.Local {
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(e.Host); err != nil {
		errs = append(errs, fmt.Errorf("host %q is not host:port: %w", e.Host, err))
	}
	if e.QoS > 1 {
		errs = append(errs, fmt.Errorf("qos %d is not supported; use 0 or 1", e.QoS))
	}
	if (len(e.ClientCertPEM) > 0) != (len(e.ClientKeyPEM) > 0) {
		errs = append(errs, errors.New("X509 client certificate and key must both be set (client_cert.pem / client_key.pem of the secret)"))
	}
	if e.TLS {
		if _, err := e.tlsConfig(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tlsConfig builds the client TLS configuration of a remote endpoint.
func (e Endpoint) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	host, _, _ := net.SplitHostPort(e.Host)
	cfg.ServerName = host
	if e.ServerName != "" {
		cfg.ServerName = e.ServerName
	}
	if len(e.TrustedCAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(e.TrustedCAPEM) {
			return nil, errors.New("trusted CA config map holds no PEM certificate; check trustedCaCertificateConfigMapRef")
		}
		cfg.RootCAs = pool
	}
	if len(e.ClientCertPEM) > 0 {
		cert, err := tls.X509KeyPair(e.ClientCertPEM, e.ClientKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate and key do not load as a PEM pair: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// String names the endpoint for logs and status (never secrets).
func (e Endpoint) String() string {
	if e.Local {
		return e.Name + " (local broker)"
	}
	return fmt.Sprintf("%s (%s)", e.Name, e.Host)
}

// Backoff returns the delay before reconnect attempt n (1-based): exponential from
// base, capped at limit, with "equal jitter" (half fixed, half random) so that many
// clients that lost the same broker do not reconnect in lock-step.
func Backoff(base, limit time.Duration) func(int) time.Duration {
	return func(n int) time.Duration {
		if n <= 0 {
			return 0
		}
		d := base
		for i := 1; i < n && d < limit; i++ {
			d *= 2
		}
		d = min(d, limit)
		return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	}
}

func clientID(prefix, flow, role string) string {
	if prefix == "" {
		prefix = "dualpeer"
	}
	id := prefix + "-" + flow + "-" + role
	// MQTT 3.1.1 servers may refuse IDs over 23 bytes; MQTT 5 (used here) allows more,
	// but keep them printable and free of separators brokers dislike.
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '+' || r == '#' || r == ' ' {
			return '-'
		}
		return r
	}, id)
}
