package scripts

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/dualpeer/dualpeer/internal/aio"
)

// Script file names, as the spec names them.
const (
	ServerCentralName    = "server-central.sh"
	ClientTechnologyName = "client-technology.sh"
)

//go:embed setup.sh.tmpl
var setupTemplate string

var tmpl = template.Must(template.New("setup").Funcs(template.FuncMap{"quote": shellQuote}).Parse(setupTemplate))

// ServerInput is what server-central.sh (Cluster A, the MQTT server) installs.
//
// The certificate fields are all set (files mode: the script creates the tls secret and the
// client CA config map) or all empty (Key Vault mode: the manifests' SecretSync and Bundle
// produce them).
type ServerInput struct {
	Namespace         string // "" = azure-iot-operations
	ServerCertSecret  string // "" = broker-tls-cert
	ClientCAConfigMap string // "" = client-ca

	ServerChainPEM  []byte // server leaf + intermediate(s): the secret's tls.crt
	ServerKeyPEM    []byte // the secret's tls.key
	ClientRootCAPEM []byte // the config map's client_ca.pem

	// Manifests are applied after the secret and config map. Their Secrets and ConfigMaps
	// are not embedded: the script creates those from the certificate files.
	Manifests *aio.Manifests
}

// String never prints key material.
func (in ServerInput) String() string { return "ServerInput(certificates and keys redacted)" }

// GoString never prints key material.
func (in ServerInput) GoString() string { return in.String() }

// ClientInput is what client-technology.sh (Cluster B, the MQTT client) installs; the
// certificate fields are all set or all empty, as for ServerInput.
type ClientInput struct {
	Namespace          string // "" = azure-iot-operations
	ClientSecret       string // "" = client-secret
	TrustedCAConfigMap string // "" = tls-ca-configmap

	ClientLeafPEM         []byte // client_cert.pem
	ClientKeyPEM          []byte // client_key.pem
	ClientIntermediatePEM []byte // client_intermediate_certs.pem
	ServerRootCAPEM       []byte // the trusted CA config map's server_ca.pem

	Manifests *aio.Manifests
}

// String never prints key material.
func (in ClientInput) String() string { return "ClientInput(certificates and keys redacted)" }

// GoString never prints key material.
func (in ClientInput) GoString() string { return in.String() }

type embeddedFile struct {
	Name   string
	Base64 string
}

type create struct {
	Message string
	Args    string // already shell-quoted
}

type scriptData struct {
	Script, Slug, Role, Namespace string
	Steps                         []string
	Files                         []embeddedFile
	Creates                       []create
	Manifests                     string // base64 of the manifests YAML; "" = nothing to apply
}

// dns1123 is the Kubernetes rule for object and namespace names.
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

func def(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

func checkNames(names map[string]string) error {
	var errs []error
	for field, v := range names {
		if len(v) > 253 || !dns1123.MatchString(v) {
			errs = append(errs, fmt.Errorf("%s %q is not a valid Kubernetes name: use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit", field, v))
		}
	}
	return errors.Join(errs...)
}

// allOrNone reports whether all of the PEM inputs are set (true), none (false), or a mix (error).
func allOrNone(script string, pems map[string][]byte) (bool, error) {
	var set, unset []string
	for name, b := range pems {
		if len(b) > 0 {
			set = append(set, name)
		} else {
			unset = append(unset, name)
		}
	}
	if len(set) > 0 && len(unset) > 0 {
		return false, fmt.Errorf("%s: %s given but %s missing: pass all certificate files (files mode) or none (Key Vault mode)",
			script, strings.Join(slices.Sorted(slices.Values(set)), ", "), strings.Join(slices.Sorted(slices.Values(unset)), ", "))
	}
	return len(set) > 0, nil
}

// ServerCentral renders server-central.sh for Cluster A.
func ServerCentral(in ServerInput) ([]byte, error) {
	d := scriptData{
		Script:    ServerCentralName,
		Slug:      "server-central",
		Role:      "Cluster A, the MQTT server (TLS listener with X.509 client authentication)",
		Namespace: def(in.Namespace, aio.DefaultNamespace),
	}
	secret := def(in.ServerCertSecret, aio.DefaultServerCertSecret)
	caMap := def(in.ClientCAConfigMap, aio.DefaultClientCAConfig)
	if err := checkNames(map[string]string{"Namespace": d.Namespace, "ServerCertSecret": secret, "ClientCAConfigMap": caMap}); err != nil {
		return nil, fmt.Errorf("render %s: %w", ServerCentralName, err)
	}
	withCerts, err := allOrNone(ServerCentralName, map[string][]byte{
		"ServerChainPEM": in.ServerChainPEM, "ServerKeyPEM": in.ServerKeyPEM, "ClientRootCAPEM": in.ClientRootCAPEM,
	})
	if err != nil {
		return nil, err
	}
	if withCerts {
		d.Files = []embeddedFile{
			{"tls.crt", wrap(in.ServerChainPEM)},
			{"tls.key", wrap(in.ServerKeyPEM)},
			{aio.KeyClientCA, wrap(in.ClientRootCAPEM)},
		}
		d.Creates = []create{
			{"secret " + secret + " (server certificate chain and key)",
				"secret tls " + shellQuote(secret) + ` --cert="$WORKDIR/tls.crt" --key="$WORKDIR/tls.key"`},
			{"config map " + caMap + " (client root CA)",
				"configmap " + shellQuote(caMap) + ` --from-file=` + aio.KeyClientCA + `="$WORKDIR/` + aio.KeyClientCA + `"`},
		}
		d.Steps = append(d.Steps,
			"create the kubernetes.io/tls secret "+secret+" with the server certificate chain and key",
			"create the config map "+caMap+" with the client root CA ("+aio.KeyClientCA+")")
	}
	return render(d, in.Manifests)
}

// ClientTechnology renders client-technology.sh for Cluster B.
func ClientTechnology(in ClientInput) ([]byte, error) {
	d := scriptData{
		Script:    ClientTechnologyName,
		Slug:      "client-technology",
		Role:      "Cluster B, the MQTT client (dataflow to Cluster A's broker with X.509 client authentication)",
		Namespace: def(in.Namespace, aio.DefaultNamespace),
	}
	secret := def(in.ClientSecret, aio.DefaultClientSecret)
	caMap := def(in.TrustedCAConfigMap, aio.DefaultTrustedCAConfig)
	if err := checkNames(map[string]string{"Namespace": d.Namespace, "ClientSecret": secret, "TrustedCAConfigMap": caMap}); err != nil {
		return nil, fmt.Errorf("render %s: %w", ClientTechnologyName, err)
	}
	withCerts, err := allOrNone(ClientTechnologyName, map[string][]byte{
		"ClientLeafPEM": in.ClientLeafPEM, "ClientKeyPEM": in.ClientKeyPEM,
		"ClientIntermediatePEM": in.ClientIntermediatePEM, "ServerRootCAPEM": in.ServerRootCAPEM,
	})
	if err != nil {
		return nil, err
	}
	if withCerts {
		d.Files = []embeddedFile{
			{aio.KeyClientCert, wrap(in.ClientLeafPEM)},
			{aio.KeyClientKey, wrap(in.ClientKeyPEM)},
			{aio.KeyClientIntermediate, wrap(in.ClientIntermediatePEM)},
			{aio.KeyServerCA, wrap(in.ServerRootCAPEM)},
		}
		fromFile := func(k string) string { return `--from-file=` + k + `="$WORKDIR/` + k + `"` }
		d.Creates = []create{
			{"secret " + secret + " (client certificate, key and intermediate)",
				"secret generic " + shellQuote(secret) + " --type=Opaque " +
					fromFile(aio.KeyClientCert) + " " + fromFile(aio.KeyClientKey) + " " + fromFile(aio.KeyClientIntermediate)},
			{"config map " + caMap + " (server root CA)",
				"configmap " + shellQuote(caMap) + " " + fromFile(aio.KeyServerCA)},
		}
		d.Steps = append(d.Steps,
			"create the secret "+secret+" with the client certificate, key and intermediate",
			"create the config map "+caMap+" with the server root CA ("+aio.KeyServerCA+")")
	}
	return render(d, in.Manifests)
}

// ManifestsYAML is exactly the YAML a script applies for m: m without Secrets and ConfigMaps
// (the script creates those from the certificate files), nil when nothing remains.
func ManifestsYAML(m *aio.Manifests) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	rest := m.WithoutCoreObjects()
	if rest.Len() == 0 {
		return nil, nil
	}
	return rest.YAML()
}

func render(d scriptData, m *aio.Manifests) ([]byte, error) {
	y, err := ManifestsYAML(m)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", d.Script, err)
	}
	if len(y) > 0 {
		d.Manifests = wrap(y)
		d.Steps = append(d.Steps, fmt.Sprintf("kubectl apply the Azure IoT Operations manifests (%d objects)", m.WithoutCoreObjects().Len()))
	}
	if len(d.Files) == 0 && len(y) == 0 {
		return nil, fmt.Errorf("render %s: nothing to do: no certificates and no manifests were given", d.Script)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", d.Script, err)
	}
	return buf.Bytes(), nil
}

// wrap base64-encodes b in 76-column lines, which base64 -d reads and which keeps the
// script readable in an editor.
func wrap(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76])
		out.WriteByte('\n')
		s = s[76:]
	}
	out.WriteString(s)
	return out.String()
}

// shellQuote single-quotes s for bash.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
