package aio

import (
	"fmt"
	"sort"
	"strings"
)

// API groups/versions of the objects, as Kubernetes spells them.
const (
	APIVersionBroker              = "mqttbroker.iotoperations.azure.com/v1"
	APIVersionConnectivity        = "connectivity.iotoperations.azure.com/v1"
	APIVersionCore                = "v1"
	APIVersionSecretProviderClass = "secrets-store.csi.x-k8s.io/v1"
	APIVersionSecretSync          = "secret-sync.x-k8s.io/v1alpha1"
	APIVersionBundle              = "trust.cert-manager.io/v1alpha1"
)

// Kinds.
const (
	KindBrokerListener       = "BrokerListener"
	KindBrokerAuthentication = "BrokerAuthentication"
	KindBrokerAuthorization  = "BrokerAuthorization"
	KindDataflowEndpoint     = "DataflowEndpoint"
	KindDataflowProfile      = "DataflowProfile"
	KindDataflow             = "Dataflow"
	KindSecret               = "Secret"
	KindConfigMap            = "ConfigMap"
	KindSecretProviderClass  = "SecretProviderClass"
	KindSecretSync           = "SecretSync"
	KindBundle               = "Bundle"
)

// BrokerListener is a broker's network entry point.
type BrokerListener struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   ObjectMeta         `json:"metadata"`
	Spec       BrokerListenerSpec `json:"spec"`
}

// BrokerAuthentication is a set of accepted client authentication methods.
type BrokerAuthentication struct {
	APIVersion string                   `json:"apiVersion"`
	Kind       string                   `json:"kind"`
	Metadata   ObjectMeta               `json:"metadata"`
	Spec       BrokerAuthenticationSpec `json:"spec"`
}

// BrokerAuthorization is a set of authorization rules.
type BrokerAuthorization struct {
	APIVersion string                  `json:"apiVersion"`
	Kind       string                  `json:"kind"`
	Metadata   ObjectMeta              `json:"metadata"`
	Spec       BrokerAuthorizationSpec `json:"spec"`
}

// DataflowEndpoint is a place a dataflow reads from or writes to.
type DataflowEndpoint struct {
	APIVersion string               `json:"apiVersion"`
	Kind       string               `json:"kind"`
	Metadata   ObjectMeta           `json:"metadata"`
	Spec       DataflowEndpointSpec `json:"spec"`
}

// DataflowProfile groups dataflows and sets how many instances run them.
type DataflowProfile struct {
	APIVersion string              `json:"apiVersion"`
	Kind       string              `json:"kind"`
	Metadata   ObjectMeta          `json:"metadata"`
	Spec       DataflowProfileSpec `json:"spec"`
}

// Dataflow moves messages from a source through transformations to a destination.
type Dataflow struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   ObjectMeta   `json:"metadata"`
	Spec       DataflowSpec `json:"spec"`
}

// Secret is a Kubernetes secret. Data is base64 in YAML, as Kubernetes encodes it.
// StringData is accepted when parsing (merged into Data, as the API server does) and never
// rendered.
type Secret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Type       string            `json:"type,omitempty"`
	Data       map[string][]byte `json:"data,omitempty"`
	StringData map[string]string `json:"stringData,omitempty"`
}

// String names the secret and its keys, never the values: secrets end up in logs.
func (s Secret) String() string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return fmt.Sprintf("Secret %s/%s type=%s keys=[%s] (data redacted)",
		s.Metadata.Namespace, s.Metadata.Name, s.Type, strings.Join(keys, ","))
}

// GoString keeps %#v from printing key material.
func (s Secret) GoString() string { return s.String() }

// ConfigMap is a Kubernetes config map (here: CA certificates, which are public).
type ConfigMap struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   ObjectMeta        `json:"metadata"`
	Data       map[string]string `json:"data,omitempty"`
}

// SecretProviderClass tells the secrets-store driver which Key Vault objects to fetch.
type SecretProviderClass struct {
	APIVersion string                  `json:"apiVersion"`
	Kind       string                  `json:"kind"`
	Metadata   ObjectMeta              `json:"metadata"`
	Spec       SecretProviderClassSpec `json:"spec"`
}

// SecretSync copies objects of a SecretProviderClass into a Kubernetes secret.
type SecretSync struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       SecretSyncSpec `json:"spec"`
}

// Bundle is a trust-manager bundle (cluster scoped: Metadata.Namespace stays empty).
type Bundle struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       BundleSpec `json:"spec"`
}

func meta(name, namespace string) ObjectMeta { return ObjectMeta{Name: name, Namespace: namespace} }

// NewBrokerListener returns a listener with apiVersion and kind set.
func NewBrokerListener(name, namespace string, spec BrokerListenerSpec) BrokerListener {
	return BrokerListener{APIVersionBroker, KindBrokerListener, meta(name, namespace), spec}
}

// NewBrokerAuthentication returns an authentication with apiVersion and kind set.
func NewBrokerAuthentication(name, namespace string, spec BrokerAuthenticationSpec) BrokerAuthentication {
	return BrokerAuthentication{APIVersionBroker, KindBrokerAuthentication, meta(name, namespace), spec}
}

// NewBrokerAuthorization returns an authorization with apiVersion and kind set.
func NewBrokerAuthorization(name, namespace string, spec BrokerAuthorizationSpec) BrokerAuthorization {
	return BrokerAuthorization{APIVersionBroker, KindBrokerAuthorization, meta(name, namespace), spec}
}

// NewDataflowEndpoint returns an endpoint with apiVersion and kind set.
func NewDataflowEndpoint(name, namespace string, spec DataflowEndpointSpec) DataflowEndpoint {
	return DataflowEndpoint{APIVersionConnectivity, KindDataflowEndpoint, meta(name, namespace), spec}
}

// NewDataflowProfile returns a profile with apiVersion and kind set.
func NewDataflowProfile(name, namespace string, spec DataflowProfileSpec) DataflowProfile {
	return DataflowProfile{APIVersionConnectivity, KindDataflowProfile, meta(name, namespace), spec}
}

// NewDataflow returns a dataflow with apiVersion and kind set.
func NewDataflow(name, namespace string, spec DataflowSpec) Dataflow {
	return Dataflow{APIVersionConnectivity, KindDataflow, meta(name, namespace), spec}
}

// NewSecret returns a secret with apiVersion and kind set.
func NewSecret(name, namespace, typ string, data map[string][]byte) Secret {
	return Secret{APIVersion: APIVersionCore, Kind: KindSecret, Metadata: meta(name, namespace), Type: typ, Data: data}
}

// NewConfigMap returns a config map with apiVersion and kind set.
func NewConfigMap(name, namespace string, data map[string]string) ConfigMap {
	return ConfigMap{APIVersionCore, KindConfigMap, meta(name, namespace), data}
}

// NewSecretProviderClass returns a SecretProviderClass with apiVersion and kind set.
func NewSecretProviderClass(name, namespace string, spec SecretProviderClassSpec) SecretProviderClass {
	return SecretProviderClass{APIVersionSecretProviderClass, KindSecretProviderClass, meta(name, namespace), spec}
}

// NewSecretSync returns a SecretSync with apiVersion and kind set.
func NewSecretSync(name, namespace string, spec SecretSyncSpec) SecretSync {
	return SecretSync{APIVersionSecretSync, KindSecretSync, meta(name, namespace), spec}
}

// NewBundle returns a cluster-scoped Bundle with apiVersion and kind set.
func NewBundle(name string, spec BundleSpec) Bundle {
	return Bundle{APIVersionBundle, KindBundle, meta(name, ""), spec}
}
