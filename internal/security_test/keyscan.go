package securitytest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dualpeer/dualpeer/internal/pki"
)

// KeyDetector finds one private key's bytes in text: base64 and hex windows of the key's DER and
// of its secret scalar(s), minus every window that also occurs in public data (the public key and
// the certificates), so that printing a certificate is never mistaken for printing a key.
type KeyDetector struct {
	Name    string
	windows []string
}

// NewKeyDetector builds the detector of k; public holds DER blobs that may legitimately be printed.
func NewKeyDetector(name string, k crypto.Signer, public [][]byte) (KeyDetector, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return KeyDetector{}, fmt.Errorf("marshal %s: %w", name, err)
	}
	if pub, err := x509.MarshalPKIXPublicKey(k.Public()); err == nil {
		public = append(public, pub)
	}
	var pubText strings.Builder
	for _, p := range public {
		for shift := 0; shift < 3 && shift < len(p); shift++ {
			pubText.WriteString(base64.StdEncoding.EncodeToString(p[shift:]))
			pubText.WriteString("\n")
		}
		pubText.WriteString(hex.EncodeToString(p) + "\n")
	}
	pt := pubText.String()
	d := KeyDetector{Name: name}
	add := func(s string, n int) {
		for i := 0; i+n <= len(s); i += n / 2 {
			if w := s[i : i+n]; !strings.Contains(pt, w) {
				d.windows = append(d.windows, w)
			}
		}
	}
	add(base64.StdEncoding.EncodeToString(der), 16)
	var secrets [][]byte
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if b, err := k.Bytes(); err == nil {
			secrets = append(secrets, b)
		}
	case *rsa.PrivateKey:
		secrets = append(secrets, k.D.Bytes())
		for _, p := range k.Primes {
			secrets = append(secrets, p.Bytes())
		}
	case ed25519.PrivateKey:
		secrets = append(secrets, k.Seed())
	}
	for _, s := range secrets {
		h := hex.EncodeToString(s)
		add(h, 16)
		add(strings.ToUpper(h), 16)
		add(base64.StdEncoding.EncodeToString(s), 16)
		add(base64.RawURLEncoding.EncodeToString(s), 16)
	}
	return d, nil
}

// Find returns the first window of the key found in text, or "".
func (d KeyDetector) Find(text []byte) string {
	for _, w := range d.windows {
		if bytes.Contains(text, []byte(w)) {
			return w
		}
	}
	return ""
}

// MaterialDetectors returns a detector for every key of m; m's certificates are public.
func MaterialDetectors(prefix string, m *pki.Material) ([]KeyDetector, error) {
	var public [][]byte
	for _, ch := range []pki.Chain{m.Server, m.Client} {
		for _, c := range []*x509.Certificate{ch.Root, ch.Intermediate, ch.Leaf} {
			if c != nil {
				public = append(public, c.Raw)
			}
		}
	}
	var out []KeyDetector
	for _, c := range []struct {
		name  string
		chain pki.Chain
	}{{"server", m.Server}, {"client", m.Client}} {
		for _, k := range []struct {
			name string
			key  crypto.Signer
		}{{"root CA key", c.chain.RootKey}, {"intermediate CA key", c.chain.IntermediateKey}, {"leaf key", c.chain.LeafKey}} {
			if k.key == nil {
				continue
			}
			d, err := NewKeyDetector(prefix+" "+c.name+" "+k.name, k.key, public)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// DirKeys walks root and returns a detector for every private key found in any file (PEM blocks
// whose type ends in "PRIVATE KEY"), and the paths of the files holding them. Certificates found
// on the way are treated as public data.
func DirKeys(root string) ([]KeyDetector, []string, error) {
	var keys []crypto.Signer
	var names, files []string
	var public [][]byte
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found := false
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			switch {
			case blk.Type == "CERTIFICATE":
				public = append(public, blk.Bytes)
			case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
				k, err := pki.ParseKey(pem.EncodeToMemory(blk))
				if err != nil {
					return fmt.Errorf("%s holds a private key that does not parse: %w", p, err)
				}
				keys, names, found = append(keys, k), append(names, p), true
			}
		}
		if found {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var out []KeyDetector
	for i, k := range keys {
		d, err := NewKeyDetector(names[i], k, public)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, d)
	}
	return out, files, nil
}

// Leaks lists every way text gives away key material: a PEM private key block, or bytes of one of
// the keys.
func Leaks(text []byte, ds []KeyDetector) []string {
	var out []string
	if bytes.Contains(text, []byte("PRIVATE KEY-----\n")) || bytes.Contains(text, []byte("PRIVATE KEY-----\\n")) {
		out = append(out, "a PEM private key block")
	}
	for _, d := range ds {
		if w := d.Find(text); w != "" {
			out = append(out, fmt.Sprintf("bytes of %s (%q)", d.Name, w))
		}
	}
	return out
}
