package local

import (
	"path/filepath"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/scripts"
)

// renderScripts writes server-central.sh and client-technology.sh as the Azure target runs them
// (certificates and manifests base64-embedded; in Key Vault mode only the manifests, whose
// SecretSync and Bundle objects produce the secrets). They hold private keys: 0600.
func (p *Provider) renderScripts(cfg *blueprint.Config, topo netlab.Topology, mat *material) error {
	ma, mb, err := manifestsFor(cfg, topo.A.VMAddr, mat)
	if err != nil {
		return err
	}
	si := scripts.ServerInput{Namespace: cfg.AIONamespace, ServerCertSecret: cfg.EnterpriseBrokerTLSCertSecretName,
		ClientCAConfigMap: cfg.EnterpriseClientCAConfigMapName, Manifests: ma}
	ci := scripts.ClientInput{Namespace: cfg.AIONamespace, ClientSecret: cfg.SiteClientSecretName,
		TrustedCAConfigMap: cfg.SiteTLSCAConfigMapName, Manifests: mb}
	if mat.link != nil {
		lc, err := linkCerts(mat.link, mat.clientCRL)
		if err != nil {
			return err
		}
		si.ServerChainPEM, si.ServerKeyPEM, si.ClientRootCAPEM = lc.ServerChainPEM, lc.ServerKeyPEM, lc.ClientRootCAPEM
		ci.ClientLeafPEM, ci.ClientKeyPEM, ci.ClientIntermediatePEM, ci.ServerRootCAPEM = lc.ClientLeafPEM, lc.ClientKeyPEM, lc.ClientIntermediatePEM, lc.ServerRootCAPEM
	}
	if cfg.DeployServerScript() {
		b, err := scripts.ServerCentral(si)
		if err != nil {
			return err
		}
		if _, err := writeIfChanged(filepath.Join(p.lay.scripts(), scripts.ServerCentralName), b, 0o600); err != nil {
			return err
		}
	}
	if cfg.DeployClientScript() {
		b, err := scripts.ClientTechnology(ci)
		if err != nil {
			return err
		}
		if _, err := writeIfChanged(filepath.Join(p.lay.scripts(), scripts.ClientTechnologyName), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
