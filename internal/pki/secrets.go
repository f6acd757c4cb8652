package pki

import (
	"crypto"
	"fmt"
)

// The eight Key Vault secret names of the key-vault-publisher module (reference §4). The leaf
// "-crt" secrets hold the bundle; root and intermediate private keys are never published.
const (
	SecretServerRootCA         = "server-root-ca-crt"
	SecretServerIntermediateCA = "server-intermediate-ca-crt"
	SecretServerLeafCert       = "server-leaf-ca-crt"
	SecretServerLeafKey        = "server-leaf-ca-key"
	SecretClientRootCA         = "client-root-ca-crt"
	SecretClientIntermediateCA = "client-intermediate-ca-crt"
	SecretClientLeafCert       = "client-leaf-ca-crt"
	SecretClientLeafKey        = "client-leaf-ca-key"
)

// SecretNames lists the eight secrets in a stable order.
func SecretNames() []string {
	return []string{
		SecretServerRootCA, SecretServerIntermediateCA, SecretServerLeafCert, SecretServerLeafKey,
		SecretClientRootCA, SecretClientIntermediateCA, SecretClientLeafCert, SecretClientLeafKey,
	}
}

// IsKeySecret reports whether the named secret holds a private key (store it 0600, never print it).
func IsKeySecret(name string) bool {
	return name == SecretServerLeafKey || name == SecretClientLeafKey
}

// ServerClusterSecrets are the secrets Cluster A (the MQTT server) receives: its broker's TLS
// bundle and key (synced into the kubernetes.io/tls secret broker-tls-cert) and the client root CA
// that its X.509 BrokerAuthentication trusts (config map client-ca).
func ServerClusterSecrets() []string {
	return []string{SecretServerLeafCert, SecretServerLeafKey, SecretClientRootCA}
}

// ClientClusterSecrets are the secrets Cluster B (the MQTT client / dataflow) receives: the client
// leaf bundle, key and intermediate (secret client-secret) and the server root CA that its
// dataflow endpoint trusts (config map tls-ca-configmap).
func ClientClusterSecrets() []string {
	return []string{SecretClientIntermediateCA, SecretClientLeafCert, SecretClientLeafKey, SecretServerRootCA}
}

// Secrets returns the eight Key Vault secrets as PEM. The two "-key" entries are private keys.
// Material made by this package is always complete; a part that is missing (a hand-built
// Material) is left out of the map rather than published empty.
func (m *Material) Secrets() map[string][]byte {
	out := map[string][]byte{}
	put := func(name string, b []byte) {
		if len(b) > 0 {
			out[name] = b
		}
	}
	putKey := func(name string, k crypto.Signer) {
		if k == nil {
			return
		}
		// PKCS#8 marshalling only fails for key types this package never makes or accepts.
		if b, err := EncodeKey(k); err == nil {
			out[name] = b
		}
	}
	put(SecretServerRootCA, EncodeCerts(m.Server.Root))
	put(SecretServerIntermediateCA, EncodeCerts(m.Server.Intermediate))
	if m.Server.Leaf != nil {
		put(SecretServerLeafCert, m.Server.BundlePEM())
	}
	putKey(SecretServerLeafKey, m.Server.LeafKey)
	put(SecretClientRootCA, EncodeCerts(m.Client.Root))
	put(SecretClientIntermediateCA, EncodeCerts(m.Client.Intermediate))
	if m.Client.Leaf != nil {
		put(SecretClientLeafCert, m.Client.BundlePEM())
	}
	putKey(SecretClientLeafKey, m.Client.LeafKey)
	return out
}

// complete reports the first missing part of the material.
func (m *Material) complete() error {
	for _, c := range []struct {
		name string
		ch   *Chain
	}{{"server", &m.Server}, {"client", &m.Client}} {
		switch {
		case c.ch.Root == nil:
			return fmt.Errorf("the %s chain has no root CA certificate", c.name)
		case c.ch.Intermediate == nil:
			return fmt.Errorf("the %s chain has no intermediate CA certificate", c.name)
		case c.ch.Leaf == nil:
			return fmt.Errorf("the %s chain has no leaf certificate", c.name)
		case c.ch.LeafKey == nil:
			return fmt.Errorf("the %s chain has no leaf private key", c.name)
		}
	}
	return nil
}
