package local

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// clusterCA is a cluster's own AIO trust (pki.ClusterCA, reference §3 "Trust") and the
// certificate cert-manager would issue from it for the default listener (TLS Automatic). It is
// unrelated to the link's chains: the 18883 listener is the cluster's own.
type clusterCA struct {
	rootPEM []byte
	leafPEM []byte // leaf + intermediate, as cert-manager writes tls.crt
	leafKey []byte
}

// DefaultListenerSecret is the secret the agent serves the TLS Automatic listener with.
const DefaultListenerSecret = "aio-broker-default-tls"

const (
	listenerCertFile = "aio-broker.crt"
	listenerKeyFile  = "aio-broker.key"
)

// loadOrCreateClusterCA keeps the CA across `up`s (its three secrets in dir) and reuses the
// listener certificate while it is the CA's, names the VM and is far from expiry, so that a
// second `up` rewrites nothing.
func loadOrCreateClusterCA(ctx context.Context, dir string, vm netip.Addr) (*clusterCA, error) {
	secrets := map[string][]byte{}
	for _, n := range []string{pki.SecretAIOCAKey, pki.SecretAIOCACertChain, pki.SecretAIORootCACert} {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			secrets[n] = b
		}
	}
	ca, err := pki.ClusterCAFromSecrets(secrets)
	if err != nil {
		if ca, err = pki.NewClusterCA(ctx, time.Time{}); err != nil {
			return nil, err
		}
		if err := publishVault(dir, ca.Secrets()); err != nil {
			return nil, err
		}
	}
	out := &clusterCA{rootPEM: pki.EncodeCerts(ca.Root)}
	lp, err1 := os.ReadFile(filepath.Join(dir, listenerCertFile))
	kp, err2 := os.ReadFile(filepath.Join(dir, listenerKeyFile))
	if err1 == nil && err2 == nil {
		if certs, err := pki.ParseCerts(lp); err == nil && len(certs) > 0 &&
			certs[0].CheckSignatureFrom(ca.Intermediate) == nil && hasIP(certs[0], vm) &&
			time.Until(certs[0].NotAfter) > 7*24*time.Hour {
			out.leafPEM, out.leafKey = lp, kp
			return out, nil
		}
	}
	is, err := ca.IssueServer([]string{aio.DefaultServiceName, aio.AnonymousServiceName, "localhost", "127.0.0.1", vm.String()}, time.Time{})
	if err != nil {
		return nil, err
	}
	out.leafPEM = is.CertPEM()
	if out.leafKey, err = is.KeyPEM(); err != nil {
		return nil, err
	}
	if _, err := writeIfChanged(filepath.Join(dir, listenerKeyFile), out.leafKey, 0o600); err != nil {
		return nil, err
	}
	if _, err := writeIfChanged(filepath.Join(dir, listenerCertFile), out.leafPEM, 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

func hasIP(c *x509.Certificate, ip netip.Addr) bool {
	for _, a := range c.IPAddresses {
		if got, ok := netip.AddrFromSlice(a); ok && got.Unmap() == ip {
			return true
		}
	}
	return false
}

// secret is the tls secret of the default listener.
func (c *clusterCA) secret(ns string) aio.Secret {
	return aio.NewSecret(DefaultListenerSecret, ns, "kubernetes.io/tls", map[string][]byte{
		aio.KeyTLSCert: c.leafPEM, aio.KeyTLSKey: c.leafKey,
	})
}

// trustBundle is AIO's trust bundle config map (key ca.crt), which the default endpoint trusts.
func (c *clusterCA) trustBundle(ns string) aio.ConfigMap {
	return aio.NewConfigMap(aio.TrustBundleConfigMap, ns, map[string]string{"ca.crt": string(c.rootPEM)})
}

// containsPEM reports whether every certificate of part is already in whole.
func containsPEM(whole, part []byte) bool {
	certs, err := pki.ParseCerts(part)
	if err != nil || len(certs) == 0 {
		return false
	}
	for _, c := range certs {
		if !bytes.Contains(whole, pki.EncodeCerts(c)) {
			return false
		}
	}
	return true
}
