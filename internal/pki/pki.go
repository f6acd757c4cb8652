package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/netip"
	"time"
)

// Mode is how the TLS material for the MQTT link is obtained (the spec's three modes).
type Mode string

// The three certificate modes. The values match blueprint.CertMode.
const (
	ModeStep      Mode = "step"
	ModeTerraform Mode = "terraform"
	ModeKeyVault  Mode = "keyvault"
)

// ParseMode accepts the two generating modes by name; an empty string means step, the spec's default.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeStep:
		return ModeStep, nil
	case ModeTerraform:
		return ModeTerraform, nil
	case ModeKeyVault:
		return "", fmt.Errorf("certificate mode %q generates nothing: import your own chain with `dualpeer certs import DIR` instead", s)
	default:
		return "", fmt.Errorf("certificate mode %q is not known: use step (the default) or terraform", s)
	}
}

// Options drive Generate and Rotate.
type Options struct {
	// Mode is ModeStep or ModeTerraform; empty means ModeStep.
	Mode Mode
	// ServerIP is the IP clients dial: Cluster A's VM private IP. It becomes the server leaf's IP SAN.
	ServerIP netip.Addr
	// Now is the start of every validity period; the zero value means time.Now().
	Now time.Time
	// Progress, when set, receives one short line per step (for a CLI's stderr). Never key material.
	// It may be called from several goroutines, but never concurrently.
	Progress func(msg string)
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Chain is one certificate chain: root → intermediate → leaf, with the keys that are known.
// RootKey and IntermediateKey are nil for imported chains whose CA keys the user kept; such a
// chain can be published but not rotated.
type Chain struct {
	Root            *x509.Certificate
	RootKey         crypto.Signer
	Intermediate    *x509.Certificate
	IntermediateKey crypto.Signer
	Leaf            *x509.Certificate
	LeafKey         crypto.Signer
	// BundleWithRoot says the leaf bundle ends with the root (the Terraform profile's
	// leaf + intermediate + root) instead of stopping at the intermediate (step's --bundle).
	BundleWithRoot bool
}

// Bundle is the leaf file's certificates in order: leaf, intermediate and, for the Terraform
// profile, the root.
func (c *Chain) Bundle() []*x509.Certificate {
	b := []*x509.Certificate{c.Leaf, c.Intermediate}
	if c.BundleWithRoot {
		b = append(b, c.Root)
	}
	return b
}

// BundlePEM is Bundle as concatenated PEM.
func (c *Chain) BundlePEM() []byte { return EncodeCerts(c.Bundle()...) }

// Material is the TLS material of both chains.
type Material struct {
	// Mode is the profile the material follows; ModeKeyVault for an imported chain.
	Mode Mode
	// ServerIP is the IP the server leaf was made for (zero when unknown, e.g. imported).
	ServerIP netip.Addr
	Server   Chain
	Client   Chain
	// RevokedClientSerials are the serials (hex, as Describe prints them) of client leaves that
	// Rotate replaced. ClientCRL turns them into a revocation list that Cluster A's X.509
	// listener checks, so a rotated-away client certificate stops working at once.
	RevokedClientSerials []string
}

// EncodeCerts returns the certificates as concatenated "CERTIFICATE" PEM blocks.
func EncodeCerts(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		if c == nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// EncodeKey returns the key as a PKCS#8 "PRIVATE KEY" PEM block.
func EncodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode private key as PKCS#8: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
