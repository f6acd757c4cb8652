package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ImportOptions drive Import and FromExternal.
type ImportOptions struct {
	// ServerIP, when valid, must be an IP SAN of the server leaf (Cluster A's VM private IP).
	ServerIP netip.Addr
	// Now is when validity is checked; zero means time.Now().
	Now time.Time
}

// ProblemsError is returned when a user's chain fails Verify. It lists every problem.
type ProblemsError struct {
	Source   string // where the chain came from (a directory, "external_certificates")
	Chain    string // "server" or "client"
	Problems []Problem
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s chain from %s is not usable (%d problem(s)):", e.Chain, e.Source, len(e.Problems))
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s", p)
	}
	return b.String()
}

// ExternalPEM holds a user's own chains as PEM text. Its fields are those of the blueprint's
// external_certificates object; blueprint.ExternalCertificates is this type.
// The CA keys may be empty: they are never published.
type ExternalPEM struct {
	ServerRootCACert         string `json:"server_root_ca_cert"`
	ServerRootCAKey          string `json:"server_root_ca_key"`
	ServerIntermediateCACert string `json:"server_intermediate_ca_cert"`
	ServerIntermediateCAKey  string `json:"server_intermediate_ca_key"`
	ServerLeafCert           string `json:"server_leaf_cert"`
	ServerLeafKey            string `json:"server_leaf_key"`
	ClientRootCACert         string `json:"client_root_ca_cert"`
	ClientRootCAKey          string `json:"client_root_ca_key"`
	ClientIntermediateCACert string `json:"client_intermediate_ca_cert"`
	ClientIntermediateCAKey  string `json:"client_intermediate_ca_key"`
	ClientLeafCert           string `json:"client_leaf_cert"`
	ClientLeafKey            string `json:"client_leaf_key"`
}

// String never reveals key material.
func (ExternalPEM) String() string { return "(sensitive)" }

// GoString never reveals key material either.
func (ExternalPEM) GoString() string { return "(sensitive)" }

// chainPEM is one chain's raw input; field is how the user names each part in errors.
type chainPEM struct {
	rootCert, rootKey, intCert, intKey, leafCert, leafKey []byte
	names                                                 [6]string
}

// FromExternal validates the external_certificates chains and returns them as Material
// (ModeKeyVault: nothing generated).
func FromExternal(e ExternalPEM, o ImportOptions) (*Material, error) {
	const src = "external_certificates"
	names := func(p string) [6]string {
		return [6]string{src + "." + p + "_root_ca_cert", src + "." + p + "_root_ca_key", src + "." + p + "_intermediate_ca_cert",
			src + "." + p + "_intermediate_ca_key", src + "." + p + "_leaf_cert", src + "." + p + "_leaf_key"}
	}
	return buildImported(src, o,
		chainPEM{[]byte(e.ServerRootCACert), []byte(e.ServerRootCAKey), []byte(e.ServerIntermediateCACert), []byte(e.ServerIntermediateCAKey), []byte(e.ServerLeafCert), []byte(e.ServerLeafKey), names("server")},
		chainPEM{[]byte(e.ClientRootCACert), []byte(e.ClientRootCAKey), []byte(e.ClientIntermediateCACert), []byte(e.ClientIntermediateCAKey), []byte(e.ClientLeafCert), []byte(e.ClientLeafKey), names("client")},
	)
}

// Import reads a user's chains from dir, validates them and returns them as Material
// (ModeKeyVault). Each part may be named as WriteDir names it (server-root-ca.crt), as its Key
// Vault secret (server-root-ca-crt) or that plus ".pem". CA keys are optional.
func Import(ctx context.Context, dir string, o ImportOptions) (*Material, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	read := func(file, secret string, optional bool) ([]byte, string, error) {
		cands := []string{file, secret, secret + ".pem"}
		for _, c := range cands {
			p := filepath.Join(dir, c)
			b, err := os.ReadFile(p)
			if err == nil {
				return b, p, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, p, fmt.Errorf("read %s: %w", p, err)
			}
		}
		if optional {
			return nil, filepath.Join(dir, file), nil
		}
		return nil, "", fmt.Errorf("%s has no %s (also looked for %s and %s.pem): put that file in the directory", dir, file, secret, secret)
	}
	load := func(f chainFiles, prefix string) (chainPEM, error) {
		var c chainPEM
		parts := []struct {
			dst      *[]byte
			file     string
			secret   string
			optional bool
		}{
			{&c.rootCert, f.rootCert, prefix + "-root-ca-crt", false},
			{&c.rootKey, f.rootKey, prefix + "-root-ca-key", true},
			{&c.intCert, f.intCert, prefix + "-intermediate-ca-crt", false},
			{&c.intKey, f.intKey, prefix + "-intermediate-ca-key", true},
			{&c.leafCert, f.leafCert, prefix + "-leaf-ca-crt", false},
			{&c.leafKey, f.leafKey, prefix + "-leaf-ca-key", false},
		}
		for i, p := range parts {
			b, path, err := read(p.file, p.secret, p.optional)
			if err != nil {
				return c, err
			}
			*p.dst, c.names[i] = b, path
		}
		return c, nil
	}
	s, err := load(serverFiles, "server")
	if err != nil {
		return nil, err
	}
	c, err := load(clientFiles, "client")
	if err != nil {
		return nil, err
	}
	return buildImported(dir, o, s, c)
}

func buildImported(src string, o ImportOptions, server, client chainPEM) (*Material, error) {
	m := &Material{Mode: ModeKeyVault}
	for _, c := range []struct {
		name  string
		in    chainPEM
		dst   *Chain
		usage Usage
		ip    netip.Addr
	}{
		{"server", server, &m.Server, UsageServer, o.ServerIP},
		{"client", client, &m.Client, UsageClient, netip.Addr{}},
	} {
		ch, bundle, err := parseChain(c.in)
		if err != nil {
			return nil, fmt.Errorf("import the %s chain: %w", c.name, err)
		}
		ps := Verify(VerifyOptions{Root: ch.Root, Intermediates: []*x509.Certificate{ch.Intermediate}, Leaf: bundle,
			Key: ch.LeafKey, ExpectIP: c.ip, Usage: c.usage, Now: o.Now})
		if ch.RootKey != nil && !publicKeysEqual(ch.Root.PublicKey, ch.RootKey.Public()) {
			ps = append(ps, Problem{Kind: KindKeyMismatch, Cert: ch.Root.Subject.CommonName, Message: fmt.Sprintf("%s is not the key of the root CA %q: give the matching key or leave it out", c.in.names[1], ch.Root.Subject.CommonName)})
		}
		if ch.IntermediateKey != nil && !publicKeysEqual(ch.Intermediate.PublicKey, ch.IntermediateKey.Public()) {
			ps = append(ps, Problem{Kind: KindKeyMismatch, Cert: ch.Intermediate.Subject.CommonName, Message: fmt.Sprintf("%s is not the key of the intermediate CA %q: give the matching key or leave it out", c.in.names[3], ch.Intermediate.Subject.CommonName)})
		}
		if len(ps) > 0 {
			return nil, &ProblemsError{Source: src, Chain: c.name, Problems: ps}
		}
		*c.dst = *ch
	}
	m.ServerIP = o.ServerIP
	if !m.ServerIP.IsValid() {
		m.ServerIP = firstNonLoopbackIP(m.Server.Leaf)
	}
	return m, nil
}

// parseChain decodes one chain. The leaf input may be a bundle; the leaf is its first certificate.
func parseChain(in chainPEM) (*Chain, []*x509.Certificate, error) {
	var ch Chain
	cert := func(b []byte, name string) (*x509.Certificate, error) {
		cs, err := ParseCerts(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return cs[0], nil
	}
	key := func(b []byte, name string, optional bool) (crypto.Signer, error) {
		if len(bytes.TrimSpace(b)) == 0 {
			if optional {
				return nil, nil
			}
			return nil, fmt.Errorf("%s is empty: the leaf's private key is required", name)
		}
		k, err := ParseKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return k, nil
	}
	var err error
	if ch.Root, err = cert(in.rootCert, in.names[0]); err != nil {
		return nil, nil, err
	}
	if ch.RootKey, err = key(in.rootKey, in.names[1], true); err != nil {
		return nil, nil, err
	}
	if ch.Intermediate, err = cert(in.intCert, in.names[2]); err != nil {
		return nil, nil, err
	}
	if ch.IntermediateKey, err = key(in.intKey, in.names[3], true); err != nil {
		return nil, nil, err
	}
	bundle, err := ParseCerts(in.leafCert)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", in.names[4], err)
	}
	ch.Leaf = bundle[0]
	ch.BundleWithRoot = len(bundle) >= 3 && bytes.Equal(bundle[len(bundle)-1].Raw, ch.Root.Raw)
	if ch.LeafKey, err = key(in.leafKey, in.names[5], false); err != nil {
		return nil, nil, err
	}
	return &ch, bundle, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func firstNonLoopbackIP(c *x509.Certificate) netip.Addr {
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok && !a.Unmap().IsLoopback() {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}
