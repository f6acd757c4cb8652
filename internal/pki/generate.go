package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"sync"
	"time"

	"go.step.sm/crypto/keyutil"
	"go.step.sm/crypto/x509util"
	"golang.org/x/sync/errgroup"
)

// Names and lifetimes of the profiles (blueprint reference §4 and §8).
const (
	// Organization is the O of every subject in the Terraform profile.
	Organization = "Azure IoT Operations"

	serverLeafCN = "mqtts-endpoint"
	clientLeafCN = "client"

	// stepCAValidity is step's default for the root-ca and intermediate-ca profiles (10 years).
	stepCAValidity = 87600 * time.Hour
	// stepLeafValidity is certs.sh's `--not-after 2400h` (100 days).
	stepLeafValidity = 2400 * time.Hour

	tfRootValidity         = 87600 * time.Hour // 8760 × 10
	tfIntermediateValidity = 43800 * time.Hour // 8760 × 5
	tfLeafValidity         = 8760 * time.Hour
)

// chainNames are the common names of one chain's CAs.
type chainNames struct{ root, intermediate string }

var (
	serverCANames = chainNames{"AIO Root CA", "AIO Intermediate CA 1"}
	clientCANames = chainNames{"Client Root CA", "Client Intermediate CA 1"}
)

// leafRole is which leaf of the two chains is being made.
type leafRole int

const (
	roleServer leafRole = iota
	roleClient
)

func (r leafRole) String() string {
	if r == roleServer {
		return "server"
	}
	return "client"
}

// profile is one generating mode: how keys are made and how each certificate's template looks.
type profile struct {
	mode           Mode
	caKey, leafKey func() (crypto.Signer, error)
	bundleWithRoot bool
	root           func(cn string) (*x509.Certificate, error)
	intermediate   func(cn string) (*x509.Certificate, error)
	leaf           func(r leafRole, o Options) (*x509.Certificate, error)
	caValidity     [2]time.Duration // root, intermediate
	leafValidity   time.Duration
}

func profileFor(m Mode) (*profile, error) {
	switch m {
	case ModeStep, "":
		return stepProfile(), nil
	case ModeTerraform:
		return terraformProfile(), nil
	default:
		return nil, fmt.Errorf("certificate mode %q cannot generate certificates: use step or terraform", m)
	}
}

// stepProfile reproduces `step certificate create` with --profile root-ca / intermediate-ca / leaf
// and no --kty, i.e. step's default EC P-256 keys, through step's own templates.
func stepProfile() *profile {
	ec := func() (crypto.Signer, error) { return keyutil.GenerateSigner("EC", "P-256", 0) }
	return &profile{
		mode:    ModeStep,
		caKey:   ec,
		leafKey: ec,
		root:    func(cn string) (*x509.Certificate, error) { return stepTemplate(x509util.DefaultRootTemplate, cn, nil) },
		intermediate: func(cn string) (*x509.Certificate, error) {
			return stepTemplate(x509util.DefaultIntermediateTemplate, cn, nil)
		},
		leaf: func(r leafRole, o Options) (*x509.Certificate, error) {
			if r == roleServer {
				// certs.sh passes `--san <VM IP>`: the IP is then the only SAN.
				return stepTemplate(x509util.DefaultLeafTemplate, serverLeafCN, []string{o.ServerIP.String()})
			}
			// Without --san, step uses the subject as the SAN (a DNS name "client").
			return stepTemplate(x509util.DefaultLeafTemplate, clientLeafCN, []string{clientLeafCN})
		},
		caValidity:   [2]time.Duration{stepCAValidity, stepCAValidity},
		leafValidity: stepLeafValidity,
	}
}

// stepTemplate renders one of step's certificate templates the way the step CLI does: a CSR for the
// subject and SANs, run through the template. The public key is set later by the signer.
func stepTemplate(text, cn string, sans []string) (*x509.Certificate, error) {
	// The template only needs the CSR for the key type (keyUsage differs for RSA); any EC key works
	// because the real public key is substituted when signing.
	k, err := keyutil.GenerateSigner("EC", "P-256", 0)
	if err != nil {
		return nil, fmt.Errorf("generate template key: %w", err)
	}
	cr, err := x509util.CreateCertificateRequest(cn, sans, k)
	if err != nil {
		return nil, fmt.Errorf("render step template for %q: %w", cn, err)
	}
	c, err := x509util.NewCertificate(cr, x509util.WithTemplate(text, x509util.CreateTemplateData(cn, sans)))
	if err != nil {
		return nil, fmt.Errorf("render step template for %q: %w", cn, err)
	}
	return c.GetCertificate(), nil
}

// terraformProfile reproduces the terraform-certificate-generation module (hashicorp/tls).
func terraformProfile() *profile {
	rsaKey := func(bits int) func() (crypto.Signer, error) {
		return func() (crypto.Signer, error) { return keyutil.GenerateSigner("RSA", "", bits) }
	}
	const caUsage = x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	ca := func(cn string, maxPathLen int) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: cn, Organization: []string{Organization}},
			KeyUsage:              caUsage,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            maxPathLen,
			MaxPathLenZero:        maxPathLen == 0,
		}
	}
	return &profile{
		mode:           ModeTerraform,
		caKey:          rsaKey(4096),
		leafKey:        rsaKey(2048),
		bundleWithRoot: true,
		root:           func(cn string) (*x509.Certificate, error) { return ca(cn, 1), nil },
		intermediate:   func(cn string) (*x509.Certificate, error) { return ca(cn, 0), nil },
		leaf: func(r leafRole, o Options) (*x509.Certificate, error) {
			t := &x509.Certificate{
				KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true, // hashicorp/tls always writes basicConstraints (CA:FALSE)
			}
			if r == roleServer {
				t.Subject = pkix.Name{CommonName: serverLeafCN, Organization: []string{Organization}}
				t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
				t.DNSNames = []string{serverLeafCN, "localhost"}
				t.IPAddresses = []net.IP{net.IP(o.ServerIP.AsSlice()), net.IPv4(127, 0, 0, 1).To4()}
			} else {
				t.Subject = pkix.Name{CommonName: clientLeafCN, Organization: []string{Organization}}
				t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
			}
			return t, nil
		},
		caValidity:   [2]time.Duration{tfRootValidity, tfIntermediateValidity},
		leafValidity: tfLeafValidity,
	}
}

// sign completes a template (validity, 128-bit random serial, subject key id; the authority key id
// comes from the parent) and signs it. parent == nil means self-signed.
func sign(t *x509.Certificate, notBefore time.Time, validity time.Duration, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, error) {
	t.NotBefore = notBefore
	t.NotAfter = notBefore.Add(validity)
	t.PublicKey = pub
	t.SerialNumber = nil   // x509util draws a random 128-bit serial
	t.SubjectKeyId = nil   // and derives the key id from the SPKI (RFC 5280 §4.2.1.2 method 1)
	t.AuthorityKeyId = nil // x509 copies the parent's subject key id
	if parent == nil {
		parent = t
	}
	c, err := x509util.CreateCertificate(t, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %q: %w", t.Subject.CommonName, err)
	}
	return c, nil
}

// keySet holds the six keys of a Material, generated in parallel.
type keySet struct {
	serverRoot, serverInt, serverLeaf, clientRoot, clientInt, clientLeaf crypto.Signer
}

func generateKeys(ctx context.Context, p *profile, o Options) (*keySet, error) {
	var ks keySet
	var mu sync.Mutex // Progress is never called concurrently
	g, ctx := errgroup.WithContext(ctx)
	for _, k := range []struct {
		dst  *crypto.Signer
		gen  func() (crypto.Signer, error)
		name string
	}{
		{&ks.serverRoot, p.caKey, "server root CA"}, {&ks.clientRoot, p.caKey, "client root CA"},
		{&ks.serverInt, p.caKey, "server intermediate CA"}, {&ks.clientInt, p.caKey, "client intermediate CA"},
		{&ks.serverLeaf, p.leafKey, "server leaf"}, {&ks.clientLeaf, p.leafKey, "client leaf"},
	} {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			key, err := k.gen()
			if err != nil {
				return fmt.Errorf("generate %s key: %w", k.name, err)
			}
			*k.dst = key
			mu.Lock()
			defer mu.Unlock()
			o.progress("generated %s key", k.name)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return &ks, nil
}

// Generate makes both chains in the given mode. It needs o.ServerIP (Cluster A's VM private IP).
func Generate(ctx context.Context, o Options) (*Material, error) {
	if o.Mode == "" {
		o.Mode = ModeStep
	}
	p, err := profileFor(o.Mode)
	if err != nil {
		return nil, err
	}
	if !o.ServerIP.IsValid() {
		return nil, fmt.Errorf("no server IP given: the server certificate needs Cluster A's VM private IP as its IP SAN (for example --server-ip 10.1.1.4)")
	}
	o.ServerIP = o.ServerIP.Unmap()
	o.progress("generating %s certificates for server IP %s", o.Mode, o.ServerIP)
	keys, err := generateKeys(ctx, p, o)
	if err != nil {
		return nil, err
	}
	now := o.now()
	m := &Material{Mode: p.mode, ServerIP: o.ServerIP}
	for _, c := range []struct {
		dst                 *Chain
		names               chainNames
		role                leafRole
		root, inter, leafKy crypto.Signer
	}{
		{&m.Server, serverCANames, roleServer, keys.serverRoot, keys.serverInt, keys.serverLeaf},
		{&m.Client, clientCANames, roleClient, keys.clientRoot, keys.clientInt, keys.clientLeaf},
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ch, err := p.chain(now, c.names, c.role, o, c.root, c.inter, c.leafKy)
		if err != nil {
			return nil, err
		}
		*c.dst = *ch
		o.progress("signed %s chain: %q → %q → %q", c.role, ch.Root.Subject.CommonName, ch.Intermediate.Subject.CommonName, ch.Leaf.Subject.CommonName)
	}
	return m, nil
}

func (p *profile) chain(now time.Time, names chainNames, role leafRole, o Options, rootKey, intKey, leafKey crypto.Signer) (*Chain, error) {
	rt, err := p.root(names.root)
	if err != nil {
		return nil, err
	}
	root, err := sign(rt, now, p.caValidity[0], rootKey.Public(), nil, rootKey)
	if err != nil {
		return nil, err
	}
	it, err := p.intermediate(names.intermediate)
	if err != nil {
		return nil, err
	}
	inter, err := sign(it, now, p.caValidity[1], intKey.Public(), root, rootKey)
	if err != nil {
		return nil, err
	}
	ch := &Chain{Root: root, RootKey: rootKey, Intermediate: inter, IntermediateKey: intKey, BundleWithRoot: p.bundleWithRoot}
	if err := p.issueLeaf(ch, now, role, o, leafKey); err != nil {
		return nil, err
	}
	return ch, nil
}

// issueLeaf signs a new leaf for leafKey under ch's intermediate and stores it in ch.
func (p *profile) issueLeaf(ch *Chain, now time.Time, role leafRole, o Options, leafKey crypto.Signer) error {
	lt, err := p.leaf(role, o)
	if err != nil {
		return err
	}
	leaf, err := sign(lt, now, p.leafValidity, leafKey.Public(), ch.Intermediate, ch.IntermediateKey)
	if err != nil {
		return err
	}
	ch.Leaf, ch.LeafKey = leaf, leafKey
	return nil
}
