package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.step.sm/crypto/keyutil"
)

// Per-cluster "AIO CA" (reference §3 "Trust", self-signed-ca submodule): each cluster's own CA
// that cert-manager's ClusterIssuer issuer-custom-root-ca-cert signs the broker's default 18883
// listener certificate with (TLS Automatic). It has nothing to do with the cross-cluster chains.
const (
	ClusterRootCN         = "AIO Root CA"
	ClusterIntermediateCN = "AIO Intermediate CA"

	clusterRootValidity         = 87600 * time.Hour
	clusterIntermediateValidity = 8760 * time.Hour
	// ListenerCertValidity is the BrokerListener certManagerCertificateSpec default duration.
	ListenerCertValidity = 720 * time.Hour
)

// The cluster CA's Key Vault secrets (reference §3): synced into cert-manager's CA secret as
// tls.key, tls.crt and ca.crt.
const (
	SecretAIOCAKey       = "aio-ca-key"        // the intermediate's private key
	SecretAIOCACertChain = "aio-ca-cert-chain" // intermediate + root
	SecretAIORootCACert  = "aio-root-ca-cert"  // root
)

// ClusterCA is one cluster's AIO CA. RootKey is nil when loaded from the vault (it is never stored).
type ClusterCA struct {
	Root            *x509.Certificate
	RootKey         crypto.Signer
	Intermediate    *x509.Certificate
	IntermediateKey crypto.Signer
}

// NewClusterCA makes a cluster's AIO CA: EC P-256 root "AIO Root CA" (87600h) and intermediate
// "AIO Intermediate CA" (8760h), both CA with certificate signing only. now zero means time.Now().
func NewClusterCA(ctx context.Context, now time.Time) (*ClusterCA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	rk, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate AIO root CA key: %w", err)
	}
	ik, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate AIO intermediate CA key: %w", err)
	}
	ca := func(cn string, pathLen int) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: cn},
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            pathLen,
			MaxPathLenZero:        pathLen == 0,
		}
	}
	root, err := sign(ca(ClusterRootCN, 1), now, clusterRootValidity, rk.Public(), nil, rk)
	if err != nil {
		return nil, err
	}
	inter, err := sign(ca(ClusterIntermediateCN, 0), now, clusterIntermediateValidity, ik.Public(), root, rk)
	if err != nil {
		return nil, err
	}
	return &ClusterCA{Root: root, RootKey: rk, Intermediate: inter, IntermediateKey: ik}, nil
}

// Secrets returns the three Key Vault secrets of the cluster CA; aio-ca-key is a private key.
func (ca *ClusterCA) Secrets() map[string][]byte {
	out := map[string][]byte{
		SecretAIOCACertChain: EncodeCerts(ca.Intermediate, ca.Root),
		SecretAIORootCACert:  EncodeCerts(ca.Root),
	}
	if k, err := EncodeKey(ca.IntermediateKey); err == nil {
		out[SecretAIOCAKey] = k
	}
	return out
}

// ClusterCAFromSecrets loads a cluster CA from its three secrets (as Secrets wrote them).
func ClusterCAFromSecrets(s map[string][]byte) (*ClusterCA, error) {
	chain, err := ParseCerts(s[SecretAIOCACertChain])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", SecretAIOCACertChain, err)
	}
	roots, err := ParseCerts(s[SecretAIORootCACert])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", SecretAIORootCACert, err)
	}
	key, err := ParseKey(s[SecretAIOCAKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", SecretAIOCAKey, err)
	}
	ca := &ClusterCA{Root: roots[0], Intermediate: chain[0], IntermediateKey: key}
	if !publicKeysEqual(ca.Intermediate.PublicKey, key.Public()) {
		return nil, fmt.Errorf("secret %s is not the key of the certificate in %s: regenerate the cluster CA", SecretAIOCAKey, SecretAIOCACertChain)
	}
	if !signedBy(ca.Intermediate, ca.Root) {
		return nil, fmt.Errorf("secret %s: the intermediate was not issued by the root in %s: regenerate the cluster CA", SecretAIOCACertChain, SecretAIORootCACert)
	}
	return ca, nil
}

// Issued is a certificate issued by a ClusterCA with its key.
type Issued struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate // the issuing intermediate, then the root
	Key   crypto.Signer
}

// CertPEM is what cert-manager puts in tls.crt: the certificate and its intermediate.
func (i *Issued) CertPEM() []byte { return EncodeCerts(i.Cert, i.Chain[0]) }

// CAPEM is what cert-manager puts in ca.crt: the root.
func (i *Issued) CAPEM() []byte { return EncodeCerts(i.Chain[len(i.Chain)-1]) }

// KeyPEM is the PKCS#8 private key (tls.key).
func (i *Issued) KeyPEM() ([]byte, error) { return EncodeKey(i.Key) }

// IssueServer issues the broker listener's server certificate for the given names, each an IP
// address or a DNS name (for example "aio-broker", "aio-broker.azure-iot-operations", "127.0.0.1"),
// like cert-manager would for a TLS Automatic listener: EC P-256, serverAuth, ListenerCertValidity.
func (ca *ClusterCA) IssueServer(names []string, now time.Time) (*Issued, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("issue listener certificate: no names given: pass the broker's service names or IPs")
	}
	if now.IsZero() {
		now = time.Now()
	}
	t := &x509.Certificate{
		Subject:               pkix.Name{CommonName: names[0]},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil {
			t.IPAddresses = append(t.IPAddresses, net.IP(ip.Unmap().AsSlice()))
			continue
		}
		if n == "" || strings.ContainsAny(n, " /:") {
			return nil, fmt.Errorf("issue listener certificate: %q is neither an IP address nor a DNS name", n)
		}
		t.DNSNames = append(t.DNSNames, n)
	}
	k, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate listener key: %w", err)
	}
	c, err := sign(t, now, ListenerCertValidity, k.Public(), ca.Intermediate, ca.IntermediateKey)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: c, Chain: []*x509.Certificate{ca.Intermediate, ca.Root}, Key: k}, nil
}
