package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Usage is what a leaf must be good for.
type Usage string

// Leaf usages Verify can require.
const (
	UsageAny    Usage = ""
	UsageServer Usage = "server" // TLS Web Server Authentication (the broker)
	UsageClient Usage = "client" // TLS Web Client Authentication (the dataflow endpoint)
)

// ParseUsage accepts "", "server" and "client".
func ParseUsage(s string) (Usage, error) {
	switch u := Usage(s); u {
	case UsageAny, UsageServer, UsageClient:
		return u, nil
	}
	return "", fmt.Errorf("usage %q is not known: use server or client", s)
}

// Kind classifies a Problem so callers and tests can act on it without parsing messages.
type Kind string

// Problem kinds.
const (
	KindMissing      Kind = "missing"           // no leaf or no root given
	KindIPMissing    Kind = "san-ip-missing"    // the leaf lacks the expected IP SAN
	KindUntrusted    Kind = "chain-not-to-root" // no path from the leaf to the given root
	KindExpired      Kind = "expired"
	KindNotYetValid  Kind = "not-yet-valid"
	KindUsageMissing Kind = "usage-missing" // serverAuth / clientAuth (or a key usage) absent
	KindKeyMismatch  Kind = "key-mismatch"  // the private key is not the leaf's
	KindBundleOrder  Kind = "bundle-order"  // the leaf file is not leaf, intermediate(s)[, root]
	KindNotCA        Kind = "not-a-ca"      // an issuer lacks CA:TRUE or keyCertSign
	KindPathLength   Kind = "path-length"   // a CA's path-length limit is exceeded
)

// Problem is one thing wrong with a chain.
type Problem struct {
	Kind Kind `json:"kind"`
	// Cert names the certificate concerned (its subject common name), if any.
	Cert string `json:"cert,omitempty"`
	// Message says what is wrong and what to do about it.
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s", p.Kind, p.Message) }

// VerifyOptions is what Verify checks.
type VerifyOptions struct {
	// Root is the trust anchor the peer will use (the root CA file). Required.
	Root *x509.Certificate
	// Intermediates are extra CA certificates (an intermediate file); optional.
	Intermediates []*x509.Certificate
	// Leaf is the leaf file's certificates in file order: the leaf, optionally followed by its
	// chain (a bundle). Required.
	Leaf []*x509.Certificate
	// Key, when set, must be the leaf's private key.
	Key crypto.Signer
	// ExpectIP, when valid, must be one of the leaf's IP SANs (the address clients dial).
	ExpectIP netip.Addr
	// Usage is the extended key usage the leaf needs.
	Usage Usage
	// Now is the time validity is checked at; zero means time.Now().
	Now time.Time
}

// maxChainDepth bounds the walk from leaf to root.
const maxChainDepth = 8

// Verify checks a leaf against a root and reports every problem found, or nil if there is none.
func Verify(o VerifyOptions) []Problem {
	var ps []Problem
	add := func(k Kind, c *x509.Certificate, format string, args ...any) {
		p := Problem{Kind: k, Message: fmt.Sprintf(format, args...)}
		if c != nil {
			p.Cert = c.Subject.CommonName
		}
		ps = append(ps, p)
	}
	if len(o.Leaf) == 0 {
		add(KindMissing, nil, "no leaf certificate given: pass the leaf (or bundle) file")
	}
	if o.Root == nil {
		add(KindMissing, nil, "no root CA certificate given: pass the root CA file the peer trusts")
	}
	if len(ps) > 0 {
		return ps
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}

	// 1. The leaf file: the leaf must come first, each following certificate must sign the one
	// before it. TLS peers send the file as is, and many reject a misordered chain.
	leaf := o.Leaf[0]
	if leaf.IsCA {
		if i := slices.IndexFunc(o.Leaf, func(c *x509.Certificate) bool { return !c.IsCA }); i > 0 {
			leaf = o.Leaf[i]
			add(KindBundleOrder, o.Leaf[0], "the leaf file starts with the CA certificate %q, but the leaf %q is certificate #%d: put the leaf first, then its intermediate, then (optionally) the root",
				o.Leaf[0].Subject.CommonName, leaf.Subject.CommonName, i+1)
		}
	} else {
		for i := 0; i+1 < len(o.Leaf); i++ {
			if !signedBy(o.Leaf[i], o.Leaf[i+1]) {
				add(KindBundleOrder, o.Leaf[i], "in the leaf file, certificate #%d %q is followed by %q, which did not issue it (it was issued by %q): order the bundle leaf, intermediate, root",
					i+1, o.Leaf[i].Subject.CommonName, o.Leaf[i+1].Subject.CommonName, o.Leaf[i].Issuer.CommonName)
				break
			}
		}
	}

	// 2. The path from the leaf to the given root.
	var pool []*x509.Certificate
	for _, c := range append(slices.Clone(o.Intermediates), o.Leaf...) {
		if c != leaf && !bytes.Equal(c.Raw, o.Root.Raw) && !slices.ContainsFunc(pool, c.Equal) {
			pool = append(pool, c)
		}
	}
	path := []*x509.Certificate{leaf}
	reached := bytes.Equal(leaf.Raw, o.Root.Raw)
	for cur := leaf; !reached && len(path) <= maxChainDepth; {
		if signedBy(cur, o.Root) {
			reached = true
			break
		}
		i := slices.IndexFunc(pool, func(c *x509.Certificate) bool { return signedBy(cur, c) && !slices.ContainsFunc(path, c.Equal) })
		if i < 0 {
			add(KindUntrusted, cur, "%s", untrustedMessage(cur, o.Root, pool))
			break
		}
		cur = pool[i]
		path = append(path, cur)
	}
	if reached {
		path = append(path, o.Root)
	}

	// 3. Issuers must be CAs allowed to sign, within their path-length limits.
	for i := 1; i < len(path); i++ {
		ca := path[i]
		if !ca.BasicConstraintsValid || !ca.IsCA {
			add(KindNotCA, ca, "%q issued %q but is not a CA (basicConstraints CA:TRUE is missing): issue the certificate from a real CA certificate", ca.Subject.CommonName, path[i-1].Subject.CommonName)
		} else if ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
			add(KindNotCA, ca, "%q issued %q but its key usage lacks keyCertSign: re-issue the CA certificate with certificate signing allowed", ca.Subject.CommonName, path[i-1].Subject.CommonName)
		}
		below := i - 1 // CA certificates between this one and the leaf
		if ca.BasicConstraintsValid && (ca.MaxPathLen > 0 || ca.MaxPathLenZero) && below > ca.MaxPathLen {
			add(KindPathLength, ca, "%q allows at most %d intermediate CA(s) below it (pathlen:%d) but the chain has %d: shorten the chain or re-issue the CA with a larger path length", ca.Subject.CommonName, ca.MaxPathLen, ca.MaxPathLen, below)
		}
	}

	// 4. Validity of every certificate on the path (and the root even if the path broke).
	checked := path
	if !reached {
		checked = append(slices.Clone(path), o.Root)
	}
	for i, c := range checked {
		what, fix := "CA certificate", "regenerate the chain with `dualpeer certs generate`"
		if i == 0 && c == leaf {
			what, fix = "leaf certificate", "issue a new leaf with `dualpeer certs rotate`"
		}
		switch {
		case now.Before(c.NotBefore):
			add(KindNotYetValid, c, "%s %q is not valid before %s (%s from now): check this machine's clock, or the clock of the host that made it", what, c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339), c.NotBefore.Sub(now).Round(time.Second))
		case now.After(c.NotAfter):
			add(KindExpired, c, "%s %q expired at %s (%s ago): %s", what, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), now.Sub(c.NotAfter).Round(time.Second), fix)
		}
	}

	// 5. The IP the clients dial.
	if o.ExpectIP.IsValid() {
		want := o.ExpectIP.Unmap()
		var ips []string
		found := false
		for _, ip := range leaf.IPAddresses {
			a, ok := netip.AddrFromSlice(ip)
			if ok && a.Unmap() == want {
				found = true
			}
			ips = append(ips, ip.String())
		}
		if !found {
			have := "no IP SAN at all"
			if len(ips) > 0 {
				have = "IP SANs " + strings.Join(ips, ", ")
			}
			add(KindIPMissing, leaf, "the certificate %q has %s but not %s, the address clients connect to, so their TLS handshake will fail: regenerate it with `dualpeer certs generate --server-ip %s` (Cluster A's VM private IP)", leaf.Subject.CommonName, have, want, want)
		}
	}

	// 6. Extended key usage.
	if o.Usage != UsageAny {
		want, name := x509.ExtKeyUsageServerAuth, "serverAuth (TLS Web Server Authentication)"
		if o.Usage == UsageClient {
			want, name = x509.ExtKeyUsageClientAuth, "clientAuth (TLS Web Client Authentication)"
		}
		// An absent extension means "any" to Go and OpenSSL alike.
		if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, want) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
			add(KindUsageMissing, leaf, "the certificate %q cannot be used as a %s certificate: its extended key usage (%s) lacks %s; issue it with that usage", leaf.Subject.CommonName, o.Usage, strings.Join(extKeyUsageNames(leaf.ExtKeyUsage), ", "), name)
		}
		if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment) == 0 {
			add(KindUsageMissing, leaf, "the certificate %q has neither digitalSignature nor keyEncipherment key usage, so it cannot be used for TLS: issue it with digitalSignature", leaf.Subject.CommonName)
		}
	}

	// 7. The private key.
	if o.Key != nil {
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if pub, ok := leaf.PublicKey.(equaler); !ok || !pub.Equal(o.Key.Public()) {
			add(KindKeyMismatch, leaf, "the private key does not match the certificate %q (key %s, certificate %s): use the key file that was written with this certificate", leaf.Subject.CommonName, publicKeyID(o.Key.Public()), publicKeyID(leaf.PublicKey))
		}
	}
	return ps
}

// untrustedMessage explains why cur does not lead to root.
func untrustedMessage(cur, root *x509.Certificate, pool []*x509.Certificate) string {
	issuer := cur.Issuer.CommonName
	if bytes.Equal(cur.RawIssuer, root.RawSubject) {
		return fmt.Sprintf("%q names %q as its issuer, but the given root with that name has a different key (root key id %s, certificate's authority key id %s): it is another CA with the same name, for example from an earlier generate; use the root CA file generated together with this certificate",
			cur.Subject.CommonName, issuer, hexID(root.SubjectKeyId), hexID(cur.AuthorityKeyId))
	}
	for _, c := range pool {
		if bytes.Equal(cur.RawIssuer, c.RawSubject) {
			return fmt.Sprintf("%q names %q as its issuer, but the given intermediate with that name has a different key (key id %s, certificate's authority key id %s): the chain does not reach the root %q; use the intermediate generated together with this certificate",
				cur.Subject.CommonName, issuer, hexID(c.SubjectKeyId), hexID(cur.AuthorityKeyId), root.Subject.CommonName)
		}
	}
	return fmt.Sprintf("%q was issued by %q, which is neither the given root %q nor any given intermediate: the chain does not reach this root; pass the intermediate that issued it (--intermediate) or the root of its own chain",
		cur.Subject.CommonName, issuer, root.Subject.CommonName)
}

// signedBy reports whether parent's key made child's signature and the names chain. CA
// constraints are checked separately so they can be reported by name.
func signedBy(child, parent *x509.Certificate) bool {
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		return false
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

func hexID(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(b)
}

// publicKeyID is a short fingerprint of a public key (SHA-256 of its SPKI), safe to print.
func publicKeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "(unknown key type)"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

func extKeyUsageNames(us []x509.ExtKeyUsage) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, extKeyUsageName(u))
	}
	return out
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	default:
		return fmt.Sprintf("eku(%d)", int(u))
	}
}
