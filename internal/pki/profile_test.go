package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"testing"
	"time"
)

// certWant is what one certificate of a profile must look like.
type certWant struct {
	cn, org    string
	keyType    string // "P-256", "RSA4096", "RSA2048"
	validity   time.Duration
	isCA       bool
	pathLen    int // -1: no basic constraints expected to limit it
	keyUsage   x509.KeyUsage
	extUsage   []x509.ExtKeyUsage
	dns, ips   []string
	basicValid bool
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	stepCA := x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tfCA := x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	tfLeaf := x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	tests := map[Mode]struct {
		bundleLen int
		certs     map[string]certWant // key: "server.root" etc.
	}{
		ModeStep: {2, map[string]certWant{
			"server.root":         {"AIO Root CA", "", "P-256", 87600 * time.Hour, true, 1, stepCA, nil, nil, nil, true},
			"server.intermediate": {"AIO Intermediate CA 1", "", "P-256", 87600 * time.Hour, true, 0, stepCA, nil, nil, nil, true},
			"server.leaf":         {"mqtts-endpoint", "", "P-256", 2400 * time.Hour, false, -1, x509.KeyUsageDigitalSignature, both, nil, []string{"10.1.1.4"}, false},
			"client.root":         {"Client Root CA", "", "P-256", 87600 * time.Hour, true, 1, stepCA, nil, nil, nil, true},
			"client.intermediate": {"Client Intermediate CA 1", "", "P-256", 87600 * time.Hour, true, 0, stepCA, nil, nil, nil, true},
			"client.leaf":         {"client", "", "P-256", 2400 * time.Hour, false, -1, x509.KeyUsageDigitalSignature, both, []string{"client"}, nil, false},
		}},
		ModeTerraform: {3, map[string]certWant{
			"server.root":         {"AIO Root CA", Organization, "RSA4096", 87600 * time.Hour, true, 1, tfCA, nil, nil, nil, true},
			"server.intermediate": {"AIO Intermediate CA 1", Organization, "RSA4096", 43800 * time.Hour, true, 0, tfCA, nil, nil, nil, true},
			"server.leaf": {"mqtts-endpoint", Organization, "RSA2048", 8760 * time.Hour, false, -1, tfLeaf, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
				[]string{"mqtts-endpoint", "localhost"}, []string{"10.1.1.4", "127.0.0.1"}, true},
			"client.root":         {"Client Root CA", Organization, "RSA4096", 87600 * time.Hour, true, 1, tfCA, nil, nil, nil, true},
			"client.intermediate": {"Client Intermediate CA 1", Organization, "RSA4096", 43800 * time.Hour, true, 0, tfCA, nil, nil, nil, true},
			"client.leaf":         {"client", Organization, "RSA2048", 8760 * time.Hour, false, -1, tfLeaf, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, nil, true},
		}},
	}
	for mode, tc := range tests {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			m := material(t, mode)
			if m.Mode != mode || m.ServerIP != testServerIP {
				t.Errorf("Material mode %q ip %s, want %q %s", m.Mode, m.ServerIP, mode, testServerIP)
			}
			got := map[string]*x509.Certificate{
				"server.root": m.Server.Root, "server.intermediate": m.Server.Intermediate, "server.leaf": m.Server.Leaf,
				"client.root": m.Client.Root, "client.intermediate": m.Client.Intermediate, "client.leaf": m.Client.Leaf,
			}
			for name, w := range tc.certs {
				checkCert(t, name, got[name], w)
			}
			for _, ch := range []*Chain{&m.Server, &m.Client} {
				if n := len(ch.Bundle()); n != tc.bundleLen {
					t.Errorf("bundle of %q has %d certificates, want %d", ch.Leaf.Subject.CommonName, n, tc.bundleLen)
				}
				// Key ids chain: every issued certificate names its issuer's key.
				if !bytes.Equal(ch.Intermediate.AuthorityKeyId, ch.Root.SubjectKeyId) || !bytes.Equal(ch.Leaf.AuthorityKeyId, ch.Intermediate.SubjectKeyId) {
					t.Errorf("%s: authority key ids do not match the issuers' subject key ids", ch.Leaf.Subject.CommonName)
				}
			}
			// Serials are random, not counters: all six differ and fit in 128 bits.
			seen := map[string]bool{}
			for name, c := range got {
				if c.SerialNumber.BitLen() > 128 || c.SerialNumber.Sign() <= 0 {
					t.Errorf("%s serial %x is not a positive 128-bit number", name, c.SerialNumber)
				}
				seen[c.SerialNumber.String()] = true
			}
			if len(seen) != 6 {
				t.Errorf("serials are not unique: %d distinct of 6", len(seen))
			}
		})
	}
}

func checkCert(t *testing.T, name string, c *x509.Certificate, w certWant) {
	t.Helper()
	if c.Subject.CommonName != w.cn {
		t.Errorf("%s CN = %q, want %q", name, c.Subject.CommonName, w.cn)
	}
	var org string
	if len(c.Subject.Organization) > 0 {
		org = c.Subject.Organization[0]
	}
	if org != w.org {
		t.Errorf("%s O = %q, want %q", name, org, w.org)
	}
	var kt string
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			kt = "P-256"
		}
	case *rsa.PublicKey:
		kt = map[int]string{4096: "RSA4096", 2048: "RSA2048"}[k.N.BitLen()]
	}
	if kt != w.keyType {
		t.Errorf("%s key = %q, want %q", name, kt, w.keyType)
	}
	if d := c.NotAfter.Sub(c.NotBefore); d != w.validity {
		t.Errorf("%s validity = %s, want %s", name, d, w.validity)
	}
	if c.IsCA != w.isCA || c.BasicConstraintsValid != w.basicValid {
		t.Errorf("%s IsCA=%v basicConstraints=%v, want %v %v", name, c.IsCA, c.BasicConstraintsValid, w.isCA, w.basicValid)
	}
	if w.isCA && (c.MaxPathLen != w.pathLen || (w.pathLen == 0) != c.MaxPathLenZero) {
		t.Errorf("%s pathlen = %d (zero %v), want %d", name, c.MaxPathLen, c.MaxPathLenZero, w.pathLen)
	}
	if c.KeyUsage != w.keyUsage {
		t.Errorf("%s key usage = %v, want %v", name, keyUsageNames(c.KeyUsage), keyUsageNames(w.keyUsage))
	}
	if !slices.Equal(c.ExtKeyUsage, w.extUsage) {
		t.Errorf("%s ext key usage = %v, want %v", name, extKeyUsageNames(c.ExtKeyUsage), extKeyUsageNames(w.extUsage))
	}
	if !slices.Equal(c.DNSNames, w.dns) {
		t.Errorf("%s DNS SANs = %v, want %v", name, c.DNSNames, w.dns)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, w.ips) {
		t.Errorf("%s IP SANs = %v, want %v", name, ips, w.ips)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Errorf("%s has no subject key id", name)
	}
}
