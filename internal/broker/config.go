package broker

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"
)

// AuthMode is how a listener authenticates clients (BrokerListener authenticationRef).
type AuthMode string

const (
	// AuthAnonymous accepts every client (a listener without authenticationRef).
	AuthAnonymous AuthMode = "Anonymous"
	// AuthX509 requires a client certificate chaining to TLSConfig.ClientCAPEM.
	AuthX509 AuthMode = "X509"
)

// Config is everything the broker needs; the agent maps AIO resources onto it.
type Config struct {
	Listeners []Listener
	// DataDir holds the session/queue log. Empty keeps state in memory only (tests).
	DataDir string
	Limits  Limits
}

// Listener is one BrokerListener port.
type Listener struct {
	Name string
	Addr string     // host:port; port 0 picks a free port (see Broker.Addr)
	TLS  *TLSConfig // nil = plain TCP
	Auth AuthMode   // "" means AuthAnonymous
}

// TLSConfig holds PEM material, not file names, so callers decide where secrets live.
type TLSConfig struct {
	CertPEM []byte // server certificate chain, leaf first
	KeyPEM  []byte // server private key
	// ClientCAPEM is the trusted client CA bundle (BrokerAuthentication
	// x509Settings.trustedClientCaCert config map). Required for AuthX509.
	ClientCAPEM []byte
}

// Limits bound memory and time per client. Zero values take the defaults below.
type Limits struct {
	MaxPacketSize     uint32        // bytes; default 1 MiB
	MaxClients        int64         // concurrent connections; default 10000
	HandshakeTimeout  time.Duration // TLS handshake + CONNECT; default 10s
	MaxQueuedMessages uint16        // unacked QoS 1 messages per session; default 10000
	// HoldPublishersAt is the queue depth of a connected subscriber at which QoS 1
	// publishers to its topics are held (back-pressure, see flow.go) instead of the
	// queue overflowing; default min(MaxQueuedMessages/2, 2048).
	HoldPublishersAt uint16
	ReceiveMaximum   uint16        // QoS 1 messages a client may have unacked towards us; default 1024
	MaxPendingWrites int32         // packets queued to one socket; default 8192
	MaxMessageExpiry time.Duration // oldest queued message; default 24h
	MaxSessionExpiry time.Duration // cap on a disconnected session's life; default 24h
	SyncInterval     time.Duration // fsync period of the state log; default 1s
}

func (l Limits) withDefaults() Limits {
	if l.MaxPacketSize == 0 {
		l.MaxPacketSize = 1 << 20
	}
	if l.MaxClients == 0 {
		l.MaxClients = 10000
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = 10 * time.Second
	}
	if l.MaxQueuedMessages == 0 {
		l.MaxQueuedMessages = 10000
	}
	if l.HoldPublishersAt == 0 || l.HoldPublishersAt > l.MaxQueuedMessages {
		l.HoldPublishersAt = min(l.MaxQueuedMessages/2, 2048)
	}
	if l.ReceiveMaximum == 0 {
		l.ReceiveMaximum = 1024
	}
	if l.MaxPendingWrites == 0 {
		l.MaxPendingWrites = 8192
	}
	if l.MaxMessageExpiry == 0 {
		l.MaxMessageExpiry = 24 * time.Hour
	}
	if l.MaxSessionExpiry == 0 {
		l.MaxSessionExpiry = 24 * time.Hour
	}
	if l.SyncInterval == 0 {
		l.SyncInterval = time.Second
	}
	return l
}

// Validate reports every problem at once, each naming the listener and the fix.
func (c Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	if len(c.Listeners) == 0 {
		errs = append(errs, errors.New("broker: no listeners configured; add at least one BrokerListener port"))
	}
	for i, l := range c.Listeners {
		where := fmt.Sprintf("broker listener %q", l.Name)
		if l.Name == "" {
			where = fmt.Sprintf("broker listener #%d", i)
			errs = append(errs, fmt.Errorf("%s: empty name; give every listener a unique name", where))
		}
		if names[l.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name; listener names must be unique", where))
		}
		names[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: address %q is not host:port: %w", where, l.Addr, err))
		}
		switch l.Auth {
		case "", AuthAnonymous:
		case AuthX509:
			if l.TLS == nil {
				errs = append(errs, fmt.Errorf("%s: X509 authentication needs TLS; set a TLS certificate on the listener", where))
			} else if len(l.TLS.ClientCAPEM) == 0 {
				errs = append(errs, fmt.Errorf("%s: X509 authentication needs the trusted client CA (trustedClientCaCert config map); it is empty", where))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: authentication mode %q is not supported; use %q or %q", where, l.Auth, AuthAnonymous, AuthX509))
		}
		if l.TLS != nil {
			if _, err := l.TLS.serverConfig(l.Auth); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return errors.Join(errs...)
}

// serverConfig builds the crypto/tls configuration of a listener.
func (t *TLSConfig) serverConfig(auth AuthMode) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
	if err != nil {
		// The error from crypto/tls never contains key material.
		return nil, fmt.Errorf("server certificate and key (tls.crt/tls.key) do not load as a PEM pair: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12, // AIO's broker also refuses TLS 1.0/1.1
		Certificates: []tls.Certificate{cert},
	}
	if auth == AuthX509 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.ClientCAPEM) {
			return nil, errors.New("trusted client CA bundle contains no PEM certificate; check the config map named by trustedClientCaCert")
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		crls, err := parseCRLs(t.ClientCAPEM)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		// Go verifies the chain (including expiry) against ClientCAs using the
		// intermediates the client sends; we additionally insist on the clientAuth
		// EKU being present, because Go accepts a leaf with no EKU at all, and refuse
		// certificates revoked by a CRL in the trusted bundle (a leaf replaced by
		// `dualpeer certs rotate`).
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("client certificate required")
			}
			if err := checkRevoked(cs.VerifiedChains, crls); err != nil {
				return err
			}
			for _, u := range cs.PeerCertificates[0].ExtKeyUsage {
				if u == x509.ExtKeyUsageClientAuth {
					return nil
				}
			}
			return errors.New("client certificate lacks the clientAuth extended key usage")
		}
	}
	return cfg, nil
}

// parseCRLs returns the "X509 CRL" blocks of a trusted CA bundle (certificates are skipped).
func parseCRLs(bundle []byte) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for rest := bundle; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out, nil
		}
		if b.Type != "X509 CRL" {
			continue
		}
		crl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("trusted client CA bundle: a revocation list does not parse: %w", err)
		}
		out = append(out, crl)
	}
}

// checkRevoked refuses a chain in which a certificate is listed by a CRL that its own issuer
// signed. CRLs from anyone else are ignored, so a CRL cannot be used to revoke a foreign CA's
// certificates.
func checkRevoked(chains [][]*x509.Certificate, crls []*x509.RevocationList) error {
	if len(crls) == 0 {
		return nil
	}
	for _, chain := range chains {
		for i := 0; i+1 < len(chain); i++ {
			cert, issuer := chain[i], chain[i+1]
			for _, crl := range crls {
				if crl.CheckSignatureFrom(issuer) != nil {
					continue
				}
				for _, e := range crl.RevokedCertificateEntries {
					if e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
						return fmt.Errorf("client certificate %q (serial %x) has been revoked by its issuer %q", cert.Subject.CommonName, cert.SerialNumber, issuer.Subject.CommonName)
					}
				}
			}
		}
	}
	return nil
}
