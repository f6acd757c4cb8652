package local

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/dualpeer/dualpeer/internal/agent"
	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// material is the TLS material of one deployment: the link's chains (nil in Key Vault mode,
// where the clusters read the vault) and each cluster's own AIO CA for the default listener.
type material struct {
	link      *pki.Material
	clientCRL []byte // revokes rotated-away client leaves; nil when none was rotated
	cluster   map[string]*clusterCA
}

// ensureCertificates reuses the generated chains while they still fit (same mode, same server
// IP) and generates them otherwise; it publishes the eight secrets to both clusters' vaults as
// the key-vault-publisher module does. In Key Vault mode it only checks that the vault holds
// the secrets (or imports external_certificates into it).
func (p *Provider) ensureCertificates(ctx context.Context, cfg *blueprint.Config, serverIP netip.Addr) (*material, error) {
	mat := &material{cluster: map[string]*clusterCA{}}
	for _, c := range []string{"a", "b"} {
		ca, err := loadOrCreateClusterCA(ctx, filepath.Join(p.lay.material(), "cluster-"+c), cfg.VMPrivateIP(c))
		if err != nil {
			return nil, err
		}
		mat.cluster[c] = ca
	}
	if cfg.CertMode() == blueprint.CertModeKeyVault {
		if ext := cfg.ExternalCertificates; ext != nil {
			m, err := pki.FromExternal(*ext, pki.ImportOptions{ServerIP: serverIP})
			if err != nil {
				return nil, fmt.Errorf("external_certificates: %w", err)
			}
			for _, c := range []string{"a", "b"} {
				if err := publishVault(p.lay.vault(c), m.Secrets()); err != nil {
					return nil, err
				}
			}
		}
		// A chain imported with `dualpeer certs import DIR` (into <state-dir>/certs) is published
		// to the vaults, as the key-vault-publisher module would.
		if ext := cfg.ExternalCertificates; ext == nil && pki.HasMaterial(p.lay.material()) {
			m, err := pki.LoadDir(ctx, p.lay.material())
			if err != nil {
				return nil, err
			}
			for _, c := range []string{"a", "b"} {
				if err := publishVault(p.lay.vault(c), m.Secrets()); err != nil {
					return nil, err
				}
			}
		}
		for _, c := range []string{"a", "b"} {
			for _, n := range pki.SecretNames() {
				if _, err := os.Stat(filepath.Join(p.lay.vault(c), n)); err != nil {
					return nil, fmt.Errorf("Key Vault mode (should_create_certificates = false): secret %q is missing from Cluster %s's local vault %s; import your chain with `dualpeer certs import DIR --out %s`, set external_certificates, or set should_create_certificates = true to generate one", n, c, p.lay.vault(c), p.lay.material())
				}
			}
		}
		return mat, nil
	}
	mode := pki.ModeStep
	if cfg.CertMode() == blueprint.CertModeTerraform {
		mode = pki.ModeTerraform
	}
	var m *pki.Material
	if pki.HasMaterial(p.lay.material()) {
		old, err := pki.LoadDir(ctx, p.lay.material())
		if err == nil && old.Mode == mode && old.ServerIP == serverIP {
			m = old
		} else if err == nil {
			p.prog.Debugf("certificates were made for %s (%s mode); regenerating for %s (%s mode)", old.ServerIP, old.Mode, serverIP, mode)
		}
	}
	if m == nil {
		var err error
		m, err = pki.Generate(ctx, pki.Options{Mode: mode, ServerIP: serverIP})
		if err != nil {
			return nil, err
		}
		if err := m.WriteDir(ctx, p.lay.material()); err != nil {
			return nil, err
		}
	}
	for _, c := range []string{"a", "b"} {
		if err := publishVault(p.lay.vault(c), m.Secrets()); err != nil {
			return nil, err
		}
	}
	mat.link = m
	crl, err := m.ClientCRLFile(p.lay.material(), time.Time{})
	if err != nil {
		return nil, err
	}
	mat.clientCRL = crl
	return mat, nil
}

// linkParams maps the configuration onto the MQTT link's resources.
func linkParams(cfg *blueprint.Config, serverIP netip.Addr) aio.LinkParams {
	return aio.LinkParams{
		Namespace:          cfg.AIONamespace,
		ServerIP:           serverIP,
		Port:               cfg.EnterpriseBrokerPort,
		ServerCertSecret:   cfg.EnterpriseBrokerTLSCertSecretName,
		ClientCAConfigMap:  cfg.EnterpriseClientCAConfigMapName,
		ClientSecret:       cfg.SiteClientSecretName,
		TrustedCAConfigMap: cfg.SiteTLSCAConfigMapName,
		AnonymousListener:  cfg.ShouldCreateAnonymousBrokerListener,
	}
}

// linkCerts is the link's PEM material. The client CA bundle carries the revocation list of
// rotated-away client leaves (crl, may be nil) so that Cluster A refuses them.
func linkCerts(m *pki.Material, crl []byte) (*aio.LinkCerts, error) {
	sk, err := pki.EncodeKey(m.Server.LeafKey)
	if err != nil {
		return nil, err
	}
	ck, err := pki.EncodeKey(m.Client.LeafKey)
	if err != nil {
		return nil, err
	}
	return &aio.LinkCerts{
		ServerChainPEM:        m.Server.BundlePEM(),
		ServerKeyPEM:          sk,
		ClientRootCAPEM:       append(pki.EncodeCerts(m.Client.Root), crl...),
		ClientLeafPEM:         m.Client.BundlePEM(),
		ClientKeyPEM:          ck,
		ClientIntermediatePEM: pki.EncodeCerts(m.Client.Intermediate),
		ServerRootCAPEM:       pki.EncodeCerts(m.Server.Root),
	}, nil
}

// manifestsFor builds each cluster's objects: the setup scripts' objects (Certs) in the
// generating modes, the SecretProviderClass/SecretSync/Bundle objects in Key Vault mode.
func manifestsFor(cfg *blueprint.Config, serverIP netip.Addr, mat *material) (a, b *aio.Manifests, err error) {
	lp := linkParams(cfg, serverIP)
	if mat.link != nil {
		if lp.Certs, err = linkCerts(mat.link, mat.clientCRL); err != nil {
			return nil, nil, err
		}
	} else {
		n := cfg.Names("a")
		lp.KeyVault = &aio.KeyVaultParams{VaultName: n.KeyVault, TenantID: "local", ClientID: "local", ConnectedClusterName: n.ArcCluster}
	}
	if err := lp.Validate(); err != nil {
		return nil, nil, err
	}
	return aio.ServerResources(lp), aio.ClientResources(lp), nil
}

// applyClusters is the local `kubectl apply` of both clusters, plus each cluster's AIO CA
// material for its default listener.
func (p *Provider) applyClusters(ctx context.Context, cfg *blueprint.Config, topo netlab.Topology, mat *material) (bool, error) {
	ma, mb, err := manifestsFor(cfg, topo.A.VMAddr, mat)
	if err != nil {
		return false, err
	}
	changed := false
	for c, m := range map[string]*aio.Manifests{"a": ma, "b": mb} {
		cs := clusterStore{dir: p.lay.cluster(c), vault: p.lay.vault(c)}
		m.Secrets = append(m.Secrets, mat.cluster[c].secret(cfg.AIONamespace))
		m.ConfigMaps = append(m.ConfigMaps, mat.cluster[c].trustBundle(cfg.AIONamespace))
		ch, err := cs.apply(m)
		if err != nil {
			return changed, fmt.Errorf("Cluster %s: %w", c, err)
		}
		changed = changed || ch
	}
	// User-facing copies of what Cluster B holds, for mosquitto clients (`dualpeer output`).
	return changed, p.writeClientFiles(cfg)
}

// ClientFiles are the files a user points mosquitto_sub/mosquitto_pub at to talk to A's X.509
// listener as Cluster B does.
type ClientFiles struct {
	ServerRootCA string `json:"server_root_ca"`
	ClientCert   string `json:"client_cert"` // leaf + intermediate
	ClientKey    string `json:"client_key"`  // 0600
}

func (p *Provider) clientFiles() ClientFiles {
	d := p.lay.clientDir()
	return ClientFiles{
		ServerRootCA: filepath.Join(d, "server-root-ca.crt"),
		ClientCert:   filepath.Join(d, "client.crt"),
		ClientKey:    filepath.Join(d, "client.key"),
	}
}

func (p *Provider) writeClientFiles(cfg *blueprint.Config) error {
	b := clusterStore{dir: p.lay.cluster("b")}
	root, err := agent.ReadConfigMapPEM(filepath.Join(b.configMapsDir(), cfg.SiteTLSCAConfigMapName))
	if err != nil {
		return fmt.Errorf("read Cluster B's trusted CA config map %s: %w", cfg.SiteTLSCAConfigMapName, err)
	}
	sec := filepath.Join(b.secretsDir(), cfg.SiteClientSecretName)
	leaf, err := os.ReadFile(filepath.Join(sec, aio.KeyClientCert))
	if err != nil {
		return fmt.Errorf("read Cluster B's client secret %s: %w", cfg.SiteClientSecretName, err)
	}
	// Append the intermediate when the leaf file does not carry it already, so that A can
	// build the chain to the client root it trusts.
	if inter, err := os.ReadFile(filepath.Join(sec, aio.KeyClientIntermediate)); err == nil && !containsPEM(leaf, inter) {
		leaf = append(append([]byte{}, leaf...), inter...)
	}
	key, err := os.ReadFile(filepath.Join(sec, aio.KeyClientKey))
	if err != nil {
		return fmt.Errorf("read Cluster B's client key: %w", err)
	}
	f := p.clientFiles()
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{f.ServerRootCA, root, 0o644}, {f.ClientCert, leaf, 0o644}, {f.ClientKey, key, 0o600}} {
		if _, err := writeIfChanged(w.path, w.data, w.mode); err != nil {
			return err
		}
	}
	return nil
}
