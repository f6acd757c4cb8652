package pki

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// crlValidity is how long a generated revocation list stays current. dualpeer regenerates it on
// every `up`; a long validity keeps a lab that is not touched for months from refusing clients
// because the list went stale.
const crlValidity = 365 * 24 * time.Hour

// ClientCRL returns a PEM "X509 CRL" signed by the client intermediate CA that revokes every
// rotated-away client leaf, or nil when none was rotated. It is published with the client root
// CA (config map client-ca), where Cluster A's X.509 listener reads it.
func (m *Material) ClientCRL(now time.Time) ([]byte, error) {
	if len(m.RevokedClientSerials) == 0 {
		return nil, nil
	}
	ca, key := m.Client.Intermediate, m.Client.IntermediateKey
	if ca == nil || key == nil {
		return nil, fmt.Errorf("revoke rotated client certificates: the client intermediate CA key is not available")
	}
	if now.IsZero() {
		now = time.Now()
	}
	tmpl := &x509.RevocationList{ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(crlValidity)}
	for _, s := range m.RevokedClientSerials {
		n, ok := new(big.Int).SetString(strings.ReplaceAll(s, ":", ""), 16)
		if !ok {
			return nil, fmt.Errorf("revoked client serial %q is not hexadecimal (certs.json)", s)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: now})
	}
	num, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	tmpl.Number = num
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, key)
	if err != nil {
		return nil, fmt.Errorf("sign the client revocation list: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// FileClientCRL is where ClientCRLFile keeps the client revocation list next to the material.
const FileClientCRL = "client-revoked.crl"

// ClientCRLFile returns the client revocation list stored in dir when it still lists exactly
// m's revoked serials, and otherwise makes, stores and returns a new one. Reusing it keeps a
// repeated `up` from rewriting (and reloading) anything: an ECDSA signature differs every time.
func (m *Material) ClientCRLFile(dir string, now time.Time) ([]byte, error) {
	if len(m.RevokedClientSerials) == 0 {
		return nil, nil
	}
	path := dir + "/" + FileClientCRL
	if b, err := os.ReadFile(path); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if crl, err := x509.ParseRevocationList(blk.Bytes); err == nil && crl.CheckSignatureFrom(m.Client.Intermediate) == nil &&
				time.Until(crl.NextUpdate) > 30*24*time.Hour && sameSerials(crl, m.RevokedClientSerials) {
				return b, nil
			}
		}
	}
	b, err := m.ClientCRL(now)
	if err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(context.Background(), path, b, certFileMode); err != nil {
		return nil, err
	}
	return b, nil
}

func sameSerials(crl *x509.RevocationList, serials []string) bool {
	if len(crl.RevokedCertificateEntries) != len(serials) {
		return false
	}
	want := map[string]bool{}
	for _, s := range serials {
		want[strings.TrimLeft(strings.ToLower(strings.ReplaceAll(s, ":", "")), "0")] = true
	}
	for _, e := range crl.RevokedCertificateEntries {
		if !want[e.SerialNumber.Text(16)] {
			return false
		}
	}
	return true
}
