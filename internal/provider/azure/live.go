package azure

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/scripts"
)

// The engine is the values source of an apply: run-time inputs come from Azure's answers.
var _ values = (*engine)(nil)

func (e *engine) body(ctx context.Context, r *plan.Resource) (map[string]any, error) {
	return (&bodyBuilder{cfg: e.cfg, p: e.p, v: e}).body(ctx, r)
}

func (e *engine) sub() string      { return e.o.Subscription }
func (e *engine) tenant() string   { return e.o.Principal.TenantID }
func (e *engine) deployer() string { return e.o.Principal.ObjectID }
func (e *engine) sshKey() string   { return e.o.SSHPublicKey }

func (e *engine) serverIP() netip.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srvIP
}

func (e *engine) got(r *plan.Resource) (map[string]any, error) {
	if r == nil {
		return nil, errors.New("a resource this body needs is not in the plan")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.actual[r.Address]
	if !ok {
		return nil, fmt.Errorf("%s has not been applied yet (a missing dependency in the plan)", r.Address)
	}
	return a, nil
}

func field(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func (e *engine) principalID(r *plan.Resource) (string, error) {
	a, err := e.got(r)
	if err != nil {
		return "", err
	}
	if id := field(a, "properties", "principalId"); id != "" && strings.EqualFold(r.Type, "Microsoft.ManagedIdentity/userAssignedIdentities") {
		return id, nil
	}
	if id := field(a, "identity", "principalId"); id != "" {
		return id, nil
	}
	return "", fmt.Errorf("%s has no principal id in Azure's answer", r.Name)
}

func (e *engine) clientID(r *plan.Resource) (string, error) {
	a, err := e.got(r)
	if err != nil {
		return "", err
	}
	if id := field(a, "properties", "clientId"); id != "" {
		return id, nil
	}
	return "", fmt.Errorf("%s has no client id in Azure's answer", r.Name)
}

func (e *engine) oidcIssuer(arc *plan.Resource) (string, error) {
	a, err := e.got(arc)
	if err != nil {
		return "", err
	}
	if u := field(a, "properties", "oidcIssuerProfile", "issuerUrl"); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("the Arc cluster %s has no OIDC issuer: it must be connected with --enable-oidc-issuer (the bootstrap does)", arc.Name)
}

func (e *engine) blobEndpoint(st *plan.Resource) (string, error) {
	a, err := e.got(st)
	if err != nil {
		return "", err
	}
	if u := field(a, "properties", "primaryEndpoints", "blob"); u != "" {
		return u, nil
	}
	return "https://" + st.Name + ".blob.core.windows.net/", nil
}

// certSecrets returns the PEM secrets for the current server IP, reissuing when it moved.
func (e *engine) certSecrets(ctx context.Context) (map[string][]byte, error) {
	if e.o.Certificates == nil {
		return nil, errors.New("no certificate source configured")
	}
	ip := e.serverIP()
	e.mu.Lock()
	if e.secrets != nil && e.secretIP == ip {
		s := e.secrets
		e.mu.Unlock()
		return s, nil
	}
	e.mu.Unlock()
	s, err := e.o.Certificates.Secrets(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("certificates for server IP %s: %w", ip, err)
	}
	e.mu.Lock()
	e.secrets, e.secretIP = s, ip
	e.mu.Unlock()
	return s, nil
}

func (e *engine) secret(ctx context.Context, name string) (string, error) {
	s, err := e.certSecrets(ctx)
	if err != nil {
		return "", err
	}
	v, ok := s[name]
	if !ok {
		return "", fmt.Errorf("the certificate material has no %s", name)
	}
	return string(v), nil
}

func (e *engine) setupScript(ctx context.Context, cluster string) (string, error) {
	return k3sSetupScript(e.cfg, cluster), nil
}

// runCommand: the script itself (with private keys) travels base64 in a protected
// parameter, which Linux run commands receive as an environment variable and ARM never
// returns; source.script is only the launcher, safe to be read back.
func (e *engine) runCommand(ctx context.Context, cluster string) (string, map[string]string, error) {
	if e.o.Scripts == nil {
		return "", nil, errors.New("no setup script renderer configured")
	}
	var secrets map[string][]byte
	if e.o.Certificates != nil {
		s, err := e.certSecrets(ctx)
		if err != nil {
			return "", nil, err
		}
		secrets = s
	}
	script, protected, err := e.o.Scripts.Render(ctx, cluster, e.serverIP(), secrets)
	if err != nil {
		return "", nil, err
	}
	return script, protected, nil
}

// runCommandLauncher is source.script of a run command whose real script is protected.
const runCommandLauncher = `#!/usr/bin/env bash
set -euo pipefail
umask 077
f=$(mktemp)
trap 'rm -f "$f"' EXIT
printf '%s' "$DUALPEER_SCRIPT_B64" | base64 -d >"$f"
bash "$f"
`

// SetupScripts renders server-central.sh (cluster "a") and client-technology.sh ("b") with
// the certificate material; the MQTT AIO resources themselves are ARM resources on Azure, so
// the scripts only create the secrets and config maps.
type SetupScripts struct {
	Namespace, ServerCertSecret, ClientCAConfigMap, ClientSecret, TrustedCAConfigMap string
}

// Render implements Scripts.
func (s SetupScripts) Render(ctx context.Context, cluster string, serverIP netip.Addr, secrets map[string][]byte) (string, map[string]string, error) {
	var script []byte
	var err error
	empty := &aio.Manifests{}
	if cluster == "a" {
		script, err = scripts.ServerCentral(scripts.ServerInput{Namespace: s.Namespace, ServerCertSecret: s.ServerCertSecret, ClientCAConfigMap: s.ClientCAConfigMap,
			ServerChainPEM: secrets["server-leaf-ca-crt"], ServerKeyPEM: secrets["server-leaf-ca-key"], ClientRootCAPEM: secrets["client-root-ca-crt"], Manifests: empty})
	} else {
		script, err = scripts.ClientTechnology(scripts.ClientInput{Namespace: s.Namespace, ClientSecret: s.ClientSecret, TrustedCAConfigMap: s.TrustedCAConfigMap,
			ClientLeafPEM: secrets["client-leaf-ca-crt"], ClientKeyPEM: secrets["client-leaf-ca-key"], ClientIntermediatePEM: secrets["client-intermediate-ca-crt"],
			ServerRootCAPEM: secrets["server-root-ca-crt"], Manifests: empty})
	}
	if err != nil {
		return "", nil, fmt.Errorf("render the setup script of cluster %s: %w", cluster, err)
	}
	return runCommandLauncher, map[string]string{"DUALPEER_SCRIPT_B64": base64.StdEncoding.EncodeToString(script)}, nil
}
