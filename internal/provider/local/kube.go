package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/state"
)

// clusterStore is the local counterpart of one cluster's Kubernetes API: what `kubectl apply`
// of the setup scripts would create. Secrets are files (0600) under secrets/<name>/<key>,
// config maps under configmaps/<name>/<key>, the AIO resources are YAML under manifests/
// (never with secret data), which the agent reads and hot-reloads.
type clusterStore struct {
	dir   string // the cluster directory
	vault string // the cluster's Key Vault directory (secret name → file)
}

func (c clusterStore) secretsDir() string    { return filepath.Join(c.dir, "secrets") }
func (c clusterStore) configMapsDir() string { return filepath.Join(c.dir, "configmaps") }
func (c clusterStore) manifestsDir() string  { return filepath.Join(c.dir, "manifests") }

// writeIfChanged writes only when the content differs, so that `up` twice changes nothing
// (and the agent's hot reload does not fire for nothing).
func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
	}
	return true, state.WriteFileAtomic(path, data, perm)
}

// apply executes the objects like the Kubernetes API plus the secret-sync controller and
// trust-manager would: Secrets and ConfigMaps are stored; each SecretSync reads the objects of
// its SecretProviderClass from the vault into a secret; each Bundle gathers its sources into
// a config map; the AIO resources are written as YAML for the agent.
func (c clusterStore) apply(m *aio.Manifests) (changed bool, err error) {
	mark := func(ch bool, err error) error {
		changed = changed || ch
		return err
	}
	for _, s := range m.Secrets {
		for k, v := range s.Data {
			if err := mark(writeIfChanged(filepath.Join(c.secretsDir(), s.Metadata.Name, k), v, 0o600)); err != nil {
				return changed, fmt.Errorf("store secret %s: %w", s.Metadata.Name, err)
			}
		}
	}
	for _, cm := range m.ConfigMaps {
		for k, v := range cm.Data {
			if err := mark(writeIfChanged(filepath.Join(c.configMapsDir(), cm.Metadata.Name, k), []byte(v), 0o644)); err != nil {
				return changed, fmt.Errorf("store config map %s: %w", cm.Metadata.Name, err)
			}
		}
	}
	spcs := map[string]aio.SecretProviderClass{}
	for _, p := range m.SecretProviderClasses {
		spcs[p.Metadata.Name] = p
	}
	for _, ss := range m.SecretSyncs {
		if _, ok := spcs[ss.Spec.SecretProviderClassName]; !ok {
			return changed, fmt.Errorf("SecretSync %s refers to SecretProviderClass %q, which is not among the cluster's manifests", ss.Metadata.Name, ss.Spec.SecretProviderClassName)
		}
		for _, d := range ss.Spec.SecretObject.Data {
			v, err := os.ReadFile(filepath.Join(c.vault, d.SourcePath))
			if err != nil {
				return changed, fmt.Errorf("SecretSync %s: Key Vault secret %q is missing from the local vault %s: put your chain there with `dualpeer certs import DIR` (Key Vault mode generates nothing): %w", ss.Metadata.Name, d.SourcePath, c.vault, err)
			}
			if err := mark(writeIfChanged(filepath.Join(c.secretsDir(), ss.Metadata.Name, d.TargetKey), v, 0o600)); err != nil {
				return changed, fmt.Errorf("sync secret %s: %w", ss.Metadata.Name, err)
			}
		}
	}
	for _, b := range m.Bundles {
		var out bytes.Buffer
		for _, src := range b.Spec.Sources {
			var p string
			switch {
			case src.Secret != nil:
				p = filepath.Join(c.secretsDir(), src.Secret.Name, src.Secret.Key)
			case src.ConfigMap != nil:
				p = filepath.Join(c.configMapsDir(), src.ConfigMap.Name, src.ConfigMap.Key)
			case src.InLine != nil:
				out.WriteString(*src.InLine)
				continue
			default:
				continue // useDefaultCAs: false, or the public roots, which a lab has no use for
			}
			v, err := os.ReadFile(p)
			if err != nil {
				return changed, fmt.Errorf("Bundle %s: source %s not found: %w", b.Metadata.Name, p, err)
			}
			out.Write(v)
		}
		if b.Spec.Target.ConfigMap == nil {
			continue
		}
		if err := mark(writeIfChanged(filepath.Join(c.configMapsDir(), b.Metadata.Name, b.Spec.Target.ConfigMap.Key), out.Bytes(), 0o644)); err != nil {
			return changed, fmt.Errorf("Bundle %s: %w", b.Metadata.Name, err)
		}
	}
	// The AIO resources, without secret data: the agent needs names, not keys.
	res := &aio.Manifests{
		Listeners: m.Listeners, Authentications: m.Authentications, Authorizations: m.Authorizations,
		Endpoints: m.Endpoints, Profiles: m.Profiles, Dataflows: m.Dataflows,
	}
	y, err := res.YAML()
	if err != nil {
		return changed, err
	}
	if err := mark(writeIfChanged(filepath.Join(c.manifestsDir(), "aio.yaml"), y, 0o644)); err != nil {
		return changed, err
	}
	return changed, nil
}

// publishVault writes the Key Vault secrets (0600) into the vault directory.
func publishVault(dir string, secrets map[string][]byte) error {
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.ContainsAny(n, "/\\") {
			return fmt.Errorf("Key Vault secret name %q is not valid (no slashes)", n)
		}
		if _, err := writeIfChanged(filepath.Join(dir, n), secrets[n], 0o600); err != nil {
			return fmt.Errorf("publish secret %s to the local vault: %w", n, err)
		}
	}
	return nil
}
