// Package testpki makes small certificate chains for the tests of the broker, dataflow
// and agent packages. It mirrors the blueprint's shapes (root → intermediate → leaf,
// leaf bundles = leaf + intermediate) with fast ECDSA keys; production certificates
// come from internal/pki.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority usable for signing.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // this CA's certificate
	// ChainPEM is what a leaf signed by this CA appends to its bundle: this CA and any
	// intermediates below the root (the root is not included).
	ChainPEM []byte
}

// Leaf options.
type Leaf struct {
	CN        string
	Server    bool     // serverAuth EKU (else clientAuth)
	NoEKU     bool     // no extended key usage at all
	IPs       []string // IP SANs
	DNS       []string
	NotBefore time.Time // zero = one hour ago
	NotAfter  time.Time // zero = in one day
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("serial: %v", err)
	}
	return n
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// NewRoot makes a self-signed root CA.
func NewRoot(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Azure IoT Operations"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create root %s: %v", cn, err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, Key: key, PEM: encodeCert(der)}
}

// Intermediate makes a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Azure IoT Operations"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("create intermediate %s: %v", cn, err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := encodeCert(der)
	return &CA{Cert: cert, Key: key, PEM: p, ChainPEM: append(append([]byte(nil), p...), ca.ChainPEM...)}
}

// Issue signs a leaf; it returns the bundle (leaf + chain) and the PKCS#8 key PEM.
func (ca *CA) Issue(t testing.TB, l Leaf) (bundlePEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: l.CN, Organization: []string{"Azure IoT Operations"}},
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     l.DNS,
	}
	switch {
	case l.NoEKU:
	case l.Server:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, ip := range l.IPs {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatalf("create leaf %s: %v", l.CN, err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return append(encodeCert(der), ca.ChainPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})
}

// Set is the blueprint's pair of chains: a server chain (trusted by clients) and a
// client chain (trusted by the broker), with leaves issued for 127.0.0.1.
type Set struct {
	ServerRoot, ClientRoot *CA
	ServerCert, ServerKey  []byte // bundle leaf+intermediate, key
	ClientCert, ClientKey  []byte // bundle leaf+intermediate, key
	ClientIntermediatePEM  []byte
}

// NewSet makes both chains.
func NewSet(t testing.TB) *Set {
	t.Helper()
	sr := NewRoot(t, "AIO Root CA")
	si := sr.Intermediate(t, "AIO Intermediate CA 1")
	cr := NewRoot(t, "Client Root CA")
	ci := cr.Intermediate(t, "Client Intermediate CA 1")
	s := &Set{ServerRoot: sr, ClientRoot: cr, ClientIntermediatePEM: ci.PEM}
	s.ServerCert, s.ServerKey = si.Issue(t, Leaf{CN: "mqtts-endpoint", Server: true, IPs: []string{"127.0.0.1"}, DNS: []string{"localhost", "mqtts-endpoint"}})
	s.ClientCert, s.ClientKey = ci.Issue(t, Leaf{CN: "client"})
	return s
}

// WriteFile writes data under dir with mode (0600 for keys, 0644 for certificates).
func WriteFile(t testing.TB, dir, name string, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
