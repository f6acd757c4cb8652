package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// CertInfo is what Inspect reports about one certificate. It never holds key material.
type CertInfo struct {
	Subject        string    `json:"subject"`
	Issuer         string    `json:"issuer"`
	Serial         string    `json:"serial"`
	NotBefore      time.Time `json:"notBefore"`
	NotAfter       time.Time `json:"notAfter"`
	IsCA           bool      `json:"isCA"`
	MaxPathLen     *int      `json:"maxPathLen,omitempty"` // nil: no limit (or not a CA)
	SelfSigned     bool      `json:"selfSigned"`
	KeyAlgorithm   string    `json:"keyAlgorithm"`
	KeyUsage       []string  `json:"keyUsage,omitempty"`
	ExtKeyUsage    []string  `json:"extKeyUsage,omitempty"`
	DNSNames       []string  `json:"dnsNames,omitempty"`
	IPAddresses    []string  `json:"ipAddresses,omitempty"`
	URIs           []string  `json:"uris,omitempty"`
	Emails         []string  `json:"emails,omitempty"`
	SubjectKeyID   string    `json:"subjectKeyId,omitempty"`
	AuthorityKeyID string    `json:"authorityKeyId,omitempty"`
	SHA256         string    `json:"sha256"`
}

// Inspect decodes every certificate in a PEM file. Private key blocks in the same file are
// skipped unread, so the output is safe to share.
func Inspect(pemBytes []byte) ([]CertInfo, error) {
	certs, err := ParseCerts(pemBytes)
	if err != nil {
		return nil, err
	}
	out := make([]CertInfo, 0, len(certs))
	for _, c := range certs {
		out = append(out, Describe(c))
	}
	return out, nil
}

// Describe summarises one certificate.
func Describe(c *x509.Certificate) CertInfo {
	fp := sha256.Sum256(c.Raw)
	ci := CertInfo{
		Subject:        c.Subject.String(),
		Issuer:         c.Issuer.String(),
		Serial:         hex.EncodeToString(c.SerialNumber.Bytes()),
		NotBefore:      c.NotBefore.UTC(),
		NotAfter:       c.NotAfter.UTC(),
		IsCA:           c.BasicConstraintsValid && c.IsCA,
		SelfSigned:     signedBy(c, c),
		KeyAlgorithm:   keyAlgorithm(c.PublicKey),
		KeyUsage:       keyUsageNames(c.KeyUsage),
		ExtKeyUsage:    extKeyUsageNames(c.ExtKeyUsage),
		DNSNames:       c.DNSNames,
		Emails:         c.EmailAddresses,
		SubjectKeyID:   hex.EncodeToString(c.SubjectKeyId),
		AuthorityKeyID: hex.EncodeToString(c.AuthorityKeyId),
		SHA256:         hex.EncodeToString(fp[:]),
	}
	if ci.IsCA && (c.MaxPathLen > 0 || c.MaxPathLenZero) {
		n := c.MaxPathLen
		ci.MaxPathLen = &n
	}
	for _, ip := range c.IPAddresses {
		ci.IPAddresses = append(ci.IPAddresses, ip.String())
	}
	for _, u := range c.URIs {
		ci.URIs = append(ci.URIs, u.String())
	}
	if len(ci.ExtKeyUsage) == 0 {
		ci.ExtKeyUsage = nil
	}
	return ci
}

func keyAlgorithm(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}

func keyUsageNames(u x509.KeyUsage) []string {
	names := []struct {
		bit  x509.KeyUsage
		name string
	}{
		{x509.KeyUsageDigitalSignature, "digitalSignature"}, {x509.KeyUsageContentCommitment, "contentCommitment"},
		{x509.KeyUsageKeyEncipherment, "keyEncipherment"}, {x509.KeyUsageDataEncipherment, "dataEncipherment"},
		{x509.KeyUsageKeyAgreement, "keyAgreement"}, {x509.KeyUsageCertSign, "keyCertSign"},
		{x509.KeyUsageCRLSign, "cRLSign"}, {x509.KeyUsageEncipherOnly, "encipherOnly"}, {x509.KeyUsageDecipherOnly, "decipherOnly"},
	}
	var out []string
	for _, n := range names {
		if u&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// WriteText renders CertInfos for people, one block per certificate. now decides the
// "expires in" / "EXPIRED" note.
func WriteText(w io.Writer, infos []CertInfo, now time.Time) error {
	var b bytes.Buffer
	for i, ci := range infos {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Certificate #%d\n", i+1)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "  %s:\t%s\n", k, v)
			}
		}
		row("Subject", ci.Subject)
		row("Issuer", ci.Issuer)
		row("Serial", ci.Serial)
		row("Not before", ci.NotBefore.Format(time.RFC3339))
		state := fmt.Sprintf("(in %s)", roundDuration(ci.NotAfter.Sub(now)))
		switch {
		case now.After(ci.NotAfter):
			state = "(EXPIRED)"
		case now.Before(ci.NotBefore):
			state = "(NOT YET VALID)"
		}
		row("Not after", ci.NotAfter.Format(time.RFC3339)+" "+state)
		role := "leaf"
		if ci.IsCA {
			role = "CA"
			if ci.MaxPathLen != nil {
				role += fmt.Sprintf(", path length %d", *ci.MaxPathLen)
			}
		}
		if ci.SelfSigned {
			role += ", self-signed"
		}
		row("Kind", role)
		row("Key", ci.KeyAlgorithm)
		row("Key usage", strings.Join(ci.KeyUsage, ", "))
		row("Ext key usage", strings.Join(ci.ExtKeyUsage, ", "))
		row("DNS names", strings.Join(ci.DNSNames, ", "))
		row("IP addresses", strings.Join(ci.IPAddresses, ", "))
		row("URIs", strings.Join(ci.URIs, ", "))
		row("Emails", strings.Join(ci.Emails, ", "))
		row("Subject key id", ci.SubjectKeyID)
		row("Authority key id", ci.AuthorityKeyID)
		row("SHA-256", ci.SHA256)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// roundDuration prints long durations in days, which is how certificate lifetimes are read.
func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
	return d.Round(time.Minute).String()
}
