package netcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// Env performs probes from inside a cluster's VM.
type Env interface {
	// Dial opens a connection whose socket lives in the given cluster's VM ("a" or "b").
	Dial(ctx context.Context, cluster, network, addr string) (net.Conn, error)
	// Ping sends one ICMP echo from the cluster's VM to addr.
	Ping(ctx context.Context, cluster string, to netip.Addr) error
}

// Input is what the checks need to know about the deployment.
type Input struct {
	AVM, BVM netip.Addr
	Port     int // A's X.509 listener (28883)
	// ServerRoots verifies A's listener; ClientCert is B's client leaf (with chain) and key.
	ServerRoots *x509.CertPool
	ClientCert  tls.Certificate
	// Local broker on B that the dataflow reads "input" from.
	BLocalAddr string      // e.g. 127.0.0.1:18884
	BLocalTLS  *tls.Config // nil for the anonymous plain listener
	// Topics of the dataflow.
	InputTopic, OutputTopic string
	// Peering settings, to explain failures.
	AllowVirtualNetworkAccess bool
	Timeout                   time.Duration // per check; 0 = 3s
}

// Check is one probe's result.
type Check struct {
	Name      string        `json:"name"`
	OK        bool          `json:"ok"`
	Duration  time.Duration `json:"duration_ns"`
	Detail    string        `json:"detail,omitempty"`
	Diagnosis string        `json:"diagnosis,omitempty"`
}

// Report is every check in order.
type Report struct {
	Checks  []Check       `json:"checks"`
	Latency time.Duration `json:"mqtt_latency_ns,omitempty"`
}

// OK reports whether every check passed.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Err summarises the failures, nil when all passed.
func (r *Report) Err() error {
	var errs []error
	for _, c := range r.Checks {
		if !c.OK {
			errs = append(errs, fmt.Errorf("%s: %s", c.Name, c.Diagnosis))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("connectivity test failed:\n  %w", joinIndented(errs))
}

func joinIndented(errs []error) error {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return errors.New(strings.Join(parts, "\n  "))
}

// Run runs every check. Later checks still run when earlier ones fail, so the report shows the
// whole picture (e.g. ping fails but TCP works means ICMP alone is filtered).
func Run(ctx context.Context, env Env, in Input) *Report {
	if in.Timeout == 0 {
		in.Timeout = 3 * time.Second
	}
	r := &Report{}
	timeout := in.Timeout
	add := func(name string, fn func(ctx context.Context) (string, error), diagnose func(error) string) bool {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := time.Now()
		detail, err := fn(cctx)
		c := Check{Name: name, OK: err == nil, Duration: time.Since(start), Detail: detail}
		if err != nil {
			c.Diagnosis = diagnose(err)
		}
		r.Checks = append(r.Checks, c)
		return err == nil
	}
	peeringDiag := func(what string) func(error) string {
		return func(err error) string {
			if !in.AllowVirtualNetworkAccess {
				return fmt.Sprintf("%v: the peering blocks it (vnet_peering_allow_virtual_network_access = false); set it to true and run `dualpeer up` again", err)
			}
			return fmt.Sprintf("%v: %s; check `dualpeer status` for the peering link and routes", err, what)
		}
	}
	add(fmt.Sprintf("ping B (%s) -> A (%s)", in.BVM, in.AVM), func(ctx context.Context) (string, error) {
		return "", env.Ping(ctx, "b", in.AVM)
	}, peeringDiag("no ICMP reply across the peering"))
	add(fmt.Sprintf("ping A (%s) -> B (%s)", in.AVM, in.BVM), func(ctx context.Context) (string, error) {
		return "", env.Ping(ctx, "a", in.BVM)
	}, peeringDiag("no ICMP reply across the peering"))

	listener := net.JoinHostPort(in.AVM.String(), strconv.Itoa(in.Port))
	add("tcp B -> "+listener, func(ctx context.Context) (string, error) {
		c, err := env.Dial(ctx, "b", "tcp", listener)
		if err != nil {
			return "", err
		}
		return "", c.Close()
	}, func(err error) string {
		if !in.AllowVirtualNetworkAccess {
			return peeringDiag("")(err)
		}
		if strings.Contains(err.Error(), "refused") {
			return fmt.Sprintf("%v: nothing listens on %s; is Cluster A's agent running? see `dualpeer logs a`", err, listener)
		}
		return peeringDiag("the listener is unreachable")(err)
	})

	if !r.Checks[len(r.Checks)-1].OK {
		// Without TCP the handshake and the round trip can only time out; say so instead of
		// making the user wait for two more timeouts.
		for _, name := range []string{"tls handshake B -> " + listener, "mqtt B:" + in.InputTopic + " -> dataflow -> A:" + in.OutputTopic} {
			r.Checks = append(r.Checks, Check{Name: name, Diagnosis: "not attempted: TCP to the listener failed (see above)"})
		}
		return r
	}
	add("tls handshake B -> "+listener+" (SAN "+in.AVM.String()+")", func(ctx context.Context) (string, error) {
		return tlsProbe(ctx, env, listener, in)
	}, func(err error) string { return err.Error() })

	// Right after `up` the dataflow may still be connecting to A: give the round trip longer.
	timeout = 3 * in.Timeout
	add("mqtt B:"+in.InputTopic+" -> dataflow -> A:"+in.OutputTopic, func(ctx context.Context) (string, error) {
		lat, err := mqttRoundTrip(ctx, env, listener, in)
		if err != nil {
			return "", err
		}
		r.Latency = lat
		return "latency " + lat.Round(time.Microsecond).String(), nil
	}, func(err error) string {
		return fmt.Sprintf("%v; check the dataflow counters in `dualpeer status` and `dualpeer logs b`", err)
	})
	return r
}

func serverTLS(in Input) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		RootCAs:      in.ServerRoots,
		Certificates: []tls.Certificate{in.ClientCert},
		// An IP as ServerName makes crypto/tls check the certificate's IP SANs, which is exactly
		// the check that fails on Azure when the SAN was generated for the wrong address.
		ServerName: in.AVM.String(),
	}
}

func tlsProbe(ctx context.Context, env Env, addr string, in Input) (string, error) {
	raw, err := env.Dial(ctx, "b", "tcp", addr)
	if err != nil {
		return "", err
	}
	defer raw.Close()
	conn := tls.Client(raw, serverTLS(in))
	if err := conn.HandshakeContext(ctx); err != nil {
		return "", explainTLS(ctx, env, addr, in, err)
	}
	st := conn.ConnectionState()
	leaf := st.PeerCertificates[0]
	return fmt.Sprintf("%s, server %q, IP SANs %v, expires %s", tls.VersionName(st.Version), leaf.Subject.CommonName, leaf.IPAddresses, leaf.NotAfter.Format(time.DateOnly)), nil
}

// explainTLS turns a failed handshake into the cause a user can act on, by looking at what the
// server presented (a second handshake that does not verify).
func explainTLS(ctx context.Context, env Env, addr string, in Input, herr error) error {
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var invErr x509.CertificateInvalidError
	switch {
	case errors.As(herr, &hostErr):
		return fmt.Errorf("the server certificate's SANs %v do not include Cluster A's VM address %s: regenerate the certificates for that address (`dualpeer certs rotate`, or `dualpeer up` regenerates them when the address changed)", hostErr.Certificate.IPAddresses, in.AVM)
	case errors.As(herr, &authErr):
		return fmt.Errorf("the server certificate (issuer %q) does not chain to the server root CA Cluster B trusts (the %s config map): the two clusters got material from different generations; run `dualpeer up` again so both receive the same chain", authErr.Cert.Issuer.CommonName, "tls-ca-configmap")
	case errors.As(herr, &invErr):
		return fmt.Errorf("the server certificate is invalid: %v", invErr)
	}
	msg := herr.Error()
	switch {
	case strings.Contains(msg, "certificate required"), strings.Contains(msg, "bad certificate"), strings.Contains(msg, "unknown certificate authority"):
		return fmt.Errorf("Cluster A refused Cluster B's client certificate (%v): the client leaf must chain to the client root CA in A's client-ca config map and carry clientAuth; check `dualpeer certs verify`", herr)
	}
	return fmt.Errorf("TLS handshake failed: %w", herr)
}

// mqttRoundTrip subscribes on A's listener (mTLS, as a user would with mosquitto_sub), publishes
// on B's local broker and waits for the message to come out of the dataflow.
func mqttRoundTrip(ctx context.Context, env Env, listener string, in Input) (time.Duration, error) {
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	got := make(chan time.Time, 1)
	sub, err := connect(ctx, env, "a", listener, serverTLS(in), "dp-test-sub-"+nonce, func(p paho.PublishReceived) (bool, error) {
		if strings.Contains(string(p.Packet.Payload), nonce) {
			select {
			case got <- time.Now():
			default:
			}
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("subscribe on Cluster A %s: %w", listener, err)
	}
	defer sub.Disconnect(&paho.Disconnect{ReasonCode: 0})
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: in.OutputTopic, QoS: 1}}}); err != nil {
		return 0, fmt.Errorf("subscribe to %q on Cluster A: %w", in.OutputTopic, err)
	}
	pub, err := connect(ctx, env, "b", in.BLocalAddr, in.BLocalTLS, "dp-test-pub-"+nonce, nil)
	if err != nil {
		return 0, fmt.Errorf("connect to Cluster B's local broker %s: %w", in.BLocalAddr, err)
	}
	defer pub.Disconnect(&paho.Disconnect{ReasonCode: 0})
	sent := time.Now()
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: in.InputTopic, QoS: 1, Payload: []byte(`{"dualpeer_test":"` + nonce + `"}`)}); err != nil {
		return 0, fmt.Errorf("publish to %q on Cluster B: %w", in.InputTopic, err)
	}
	select {
	case at := <-got:
		return at.Sub(sent), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("the message published on Cluster B's %q did not arrive on Cluster A's %q within the timeout", in.InputTopic, in.OutputTopic)
	}
}

func connect(ctx context.Context, env Env, cluster, addr string, tlsCfg *tls.Config, id string, onMsg func(paho.PublishReceived) (bool, error)) (*paho.Client, error) {
	raw, err := env.Dial(ctx, cluster, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := raw
	if tlsCfg != nil {
		tc := tls.Client(raw, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		conn = tc
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: packets.NewThreadSafeConn(conn)}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){onMsg}
	}
	c := paho.NewClient(cfg)
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ca.ReasonCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("broker refused the connection: reason %d %s", ca.ReasonCode, ca.Properties.ReasonString)
	}
	return c, nil
}
