package aio

// Field names and optionality follow the definitions of iotoperations.json (2025-04-01).
// Pointers are used where the zero value is meaningful and differs from "not set"
// (qos 0, keepAliveSeconds 0); everything optional is omitempty so a rendered body carries
// only what the spec sets.

// ObjectMeta is the part of Kubernetes metadata the model needs.
type ObjectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// ---- Broker listener ----

// BrokerListenerSpec is BrokerListenerProperties (ARM) = the BrokerListener CRD spec.
type BrokerListenerSpec struct {
	// BrokerRef names the parent broker. CRD only; on ARM the listener's parent id says it.
	BrokerRef   string         `json:"brokerRef,omitempty"`
	ServiceName string         `json:"serviceName,omitempty"`
	ServiceType string         `json:"serviceType,omitempty"` // ClusterIp | LoadBalancer | NodePort
	Ports       []ListenerPort `json:"ports"`
}

// ListenerPort is one port of a listener.
type ListenerPort struct {
	AuthenticationRef string         `json:"authenticationRef,omitempty"`
	AuthorizationRef  string         `json:"authorizationRef,omitempty"`
	NodePort          int            `json:"nodePort,omitempty"`
	Port              int            `json:"port"`
	Protocol          string         `json:"protocol,omitempty"` // Mqtt | WebSockets
	TLS               *TLSCertMethod `json:"tls,omitempty"`
}

// TLSCertMethod says where a listener port's server certificate comes from.
type TLSCertMethod struct {
	Mode                       string                      `json:"mode"` // Automatic | Manual
	CertManagerCertificateSpec *CertManagerCertificateSpec `json:"certManagerCertificateSpec,omitempty"`
	Manual                     *X509ManualCertificate      `json:"manual,omitempty"`
}

// X509ManualCertificate names a kubernetes.io/tls secret.
type X509ManualCertificate struct {
	SecretRef string `json:"secretRef"`
}

// CertManagerCertificateSpec is the cert-manager certificate of an Automatic TLS port.
type CertManagerCertificateSpec struct {
	Duration    string                 `json:"duration,omitempty"`
	SecretName  string                 `json:"secretName,omitempty"`
	RenewBefore string                 `json:"renewBefore,omitempty"`
	IssuerRef   CertManagerIssuerRef   `json:"issuerRef"`
	PrivateKey  *CertManagerPrivateKey `json:"privateKey,omitempty"`
	SAN         *SANForCert            `json:"san,omitempty"`
}

// CertManagerIssuerRef points at a cert-manager (Cluster)Issuer.
type CertManagerIssuerRef struct {
	Group string `json:"group"`
	Kind  string `json:"kind"` // Issuer | ClusterIssuer
	Name  string `json:"name"`
}

// CertManagerPrivateKey is the key type and rotation of an Automatic TLS certificate.
type CertManagerPrivateKey struct {
	Algorithm      string `json:"algorithm"`      // Ec256 … Rsa8192
	RotationPolicy string `json:"rotationPolicy"` // Always | Never
}

// SANForCert lists extra SANs; the schema requires both lists when the object is present.
type SANForCert struct {
	DNS []string `json:"dns"`
	IP  []string `json:"ip"`
}

// ---- Broker authentication ----

// BrokerAuthenticationSpec is BrokerAuthenticationProperties = the CRD spec.
type BrokerAuthenticationSpec struct {
	AuthenticationMethods []BrokerAuthenticatorMethods `json:"authenticationMethods"`
}

// BrokerAuthenticatorMethods is one accepted way to authenticate.
type BrokerAuthenticatorMethods struct {
	Method                      string                           `json:"method"` // Custom | ServiceAccountToken | X509
	CustomSettings              *BrokerAuthenticatorMethodCustom `json:"customSettings,omitempty"`
	ServiceAccountTokenSettings *BrokerAuthenticatorMethodSat    `json:"serviceAccountTokenSettings,omitempty"`
	X509Settings                *BrokerAuthenticatorMethodX509   `json:"x509Settings,omitempty"`
}

// BrokerAuthenticatorMethodCustom delegates authentication to an HTTPS endpoint.
type BrokerAuthenticatorMethodCustom struct {
	Auth            *BrokerAuthenticatorCustomAuth `json:"auth,omitempty"`
	CACertConfigMap string                         `json:"caCertConfigMap,omitempty"`
	Endpoint        string                         `json:"endpoint"`
	Headers         map[string]string              `json:"headers,omitempty"`
}

// BrokerAuthenticatorCustomAuth is the client certificate used towards a custom authenticator.
type BrokerAuthenticatorCustomAuth struct {
	X509 X509ManualCertificate `json:"x509"`
}

// BrokerAuthenticatorMethodSat accepts Kubernetes service account tokens for these audiences.
type BrokerAuthenticatorMethodSat struct {
	Audiences []string `json:"audiences"`
}

// BrokerAuthenticatorMethodX509 accepts client certificates chaining to the CA certificates
// in the config map TrustedClientCaCert.
type BrokerAuthenticatorMethodX509 struct {
	AuthorizationAttributes map[string]BrokerAuthenticatorMethodX509Attributes `json:"authorizationAttributes,omitempty"`
	TrustedClientCaCert     string                                             `json:"trustedClientCaCert,omitempty"`
}

// BrokerAuthenticatorMethodX509Attributes maps a certificate subject to attributes.
type BrokerAuthenticatorMethodX509Attributes struct {
	Attributes map[string]string `json:"attributes"`
	Subject    string            `json:"subject"`
}

// ---- Broker authorization ----

// BrokerAuthorizationSpec is BrokerAuthorizationProperties = the CRD spec.
type BrokerAuthorizationSpec struct {
	AuthorizationPolicies AuthorizationConfig `json:"authorizationPolicies"`
}

// AuthorizationConfig is a list of rules plus the cache mode.
type AuthorizationConfig struct {
	Cache string              `json:"cache,omitempty"` // Enabled | Disabled
	Rules []AuthorizationRule `json:"rules,omitempty"`
}

// AuthorizationRule grants principals access to broker (and state store) resources.
type AuthorizationRule struct {
	BrokerResources     []BrokerResourceRule     `json:"brokerResources"`
	Principals          PrincipalDefinition      `json:"principals"`
	StateStoreResources []StateStoreResourceRule `json:"stateStoreResources,omitempty"`
}

// PrincipalDefinition selects clients by attributes, client ids or usernames.
type PrincipalDefinition struct {
	Attributes []map[string]string `json:"attributes,omitempty"`
	ClientIDs  []string            `json:"clientIds,omitempty"`
	Usernames  []string            `json:"usernames,omitempty"`
}

// BrokerResourceRule allows one method on some topics / client ids.
type BrokerResourceRule struct {
	Method    string   `json:"method"` // Connect | Publish | Subscribe
	ClientIDs []string `json:"clientIds,omitempty"`
	Topics    []string `json:"topics,omitempty"`
}

// StateStoreResourceRule allows access to state store keys.
type StateStoreResourceRule struct {
	KeyType string   `json:"keyType"` // Pattern | String | Binary
	Keys    []string `json:"keys"`
	Method  string   `json:"method"` // Read | Write | ReadWrite
}

// ---- Dataflow endpoint ----

// DataflowEndpointSpec is DataflowEndpointProperties = the CRD spec. Only the Mqtt and
// LocalStorage settings are typed (the local engine implements Mqtt); the cloud-only
// endpoint kinds are kept as opaque JSON objects and checked by the ARM schema.
type DataflowEndpointSpec struct {
	EndpointType            string                        `json:"endpointType"` // Mqtt, Kafka, …
	MqttSettings            *DataflowEndpointMqtt         `json:"mqttSettings,omitempty"`
	LocalStorageSettings    *DataflowEndpointLocalStorage `json:"localStorageSettings,omitempty"`
	KafkaSettings           map[string]any                `json:"kafkaSettings,omitempty"`
	DataExplorerSettings    map[string]any                `json:"dataExplorerSettings,omitempty"`
	DataLakeStorageSettings map[string]any                `json:"dataLakeStorageSettings,omitempty"`
	FabricOneLakeSettings   map[string]any                `json:"fabricOneLakeSettings,omitempty"`
}

// DataflowEndpointLocalStorage writes to a persistent volume claim.
type DataflowEndpointLocalStorage struct {
	PersistentVolumeClaimRef string `json:"persistentVolumeClaimRef"`
}

// DataflowEndpointMqtt is an MQTT broker a dataflow reads from or writes to.
type DataflowEndpointMqtt struct {
	Authentication       DataflowEndpointMqttAuthentication `json:"authentication"`
	ClientIDPrefix       string                             `json:"clientIdPrefix,omitempty"`
	Host                 string                             `json:"host,omitempty"`     // host:port
	Protocol             string                             `json:"protocol,omitempty"` // Mqtt | WebSockets
	KeepAliveSeconds     *int                               `json:"keepAliveSeconds,omitempty"`
	Retain               string                             `json:"retain,omitempty"` // Keep | Never
	MaxInflightMessages  *int                               `json:"maxInflightMessages,omitempty"`
	QoS                  *int                               `json:"qos,omitempty"` // 0 | 1
	SessionExpirySeconds *int                               `json:"sessionExpirySeconds,omitempty"`
	TLS                  *TLSProperties                     `json:"tls,omitempty"`
	CloudEventAttributes string                             `json:"cloudEventAttributes,omitempty"` // Propagate | CreateOrRemap
}

// DataflowEndpointMqttAuthentication is how a dataflow authenticates to the broker.
type DataflowEndpointMqttAuthentication struct {
	// Method is SystemAssignedManagedIdentity | UserAssignedManagedIdentity |
	// ServiceAccountToken | X509Certificate | Anonymous.
	Method                                string                                                       `json:"method"`
	SystemAssignedManagedIdentitySettings *DataflowEndpointAuthenticationSystemAssignedManagedIdentity `json:"systemAssignedManagedIdentitySettings,omitempty"`
	UserAssignedManagedIdentitySettings   *DataflowEndpointAuthenticationUserAssignedManagedIdentity   `json:"userAssignedManagedIdentitySettings,omitempty"`
	ServiceAccountTokenSettings           *DataflowEndpointAuthenticationServiceAccountToken           `json:"serviceAccountTokenSettings,omitempty"`
	X509CertificateSettings               *DataflowEndpointAuthenticationX509                          `json:"x509CertificateSettings,omitempty"`
}

// DataflowEndpointAuthenticationSystemAssignedManagedIdentity is the cluster extension's identity.
type DataflowEndpointAuthenticationSystemAssignedManagedIdentity struct {
	Audience string `json:"audience,omitempty"`
}

// DataflowEndpointAuthenticationUserAssignedManagedIdentity is a user-assigned identity.
type DataflowEndpointAuthenticationUserAssignedManagedIdentity struct {
	ClientID string `json:"clientId"`
	Scope    string `json:"scope,omitempty"`
	TenantID string `json:"tenantId"`
}

// DataflowEndpointAuthenticationServiceAccountToken is a Kubernetes service account token.
type DataflowEndpointAuthenticationServiceAccountToken struct {
	Audience string `json:"audience"`
}

// DataflowEndpointAuthenticationX509 names the secret holding the client certificate, its key
// and its intermediates (client_cert.pem, client_key.pem, client_intermediate_certs.pem).
type DataflowEndpointAuthenticationX509 struct {
	SecretRef string `json:"secretRef"`
}

// TLSProperties is TLS towards an endpoint; the config map holds the trusted CA certificates.
type TLSProperties struct {
	Mode                             string `json:"mode,omitempty"` // Enabled | Disabled
	TrustedCaCertificateConfigMapRef string `json:"trustedCaCertificateConfigMapRef,omitempty"`
}

// ---- Dataflow profile and dataflow ----

// DataflowProfileSpec is DataflowProfileProperties = the CRD spec.
type DataflowProfileSpec struct {
	Diagnostics   map[string]any `json:"diagnostics,omitempty"` // opaque: logs/metrics settings
	InstanceCount int            `json:"instanceCount,omitempty"`
}

// DataflowSpec is DataflowProperties = the CRD spec.
type DataflowSpec struct {
	// ProfileRef names the parent profile. CRD only; on ARM the parent id says it.
	ProfileRef string              `json:"profileRef,omitempty"`
	Mode       string              `json:"mode,omitempty"` // Enabled | Disabled
	Operations []DataflowOperation `json:"operations"`
}

// DataflowOperation is one stage: Source, BuiltInTransformation or Destination.
type DataflowOperation struct {
	OperationType                 string                                 `json:"operationType"`
	Name                          string                                 `json:"name,omitempty"`
	SourceSettings                *DataflowSourceOperationSettings       `json:"sourceSettings,omitempty"`
	BuiltInTransformationSettings *DataflowBuiltInTransformationSettings `json:"builtInTransformationSettings,omitempty"`
	DestinationSettings           *DataflowDestinationOperationSettings  `json:"destinationSettings,omitempty"`
}

// Operation types.
const (
	OperationSource                = "Source"
	OperationBuiltInTransformation = "BuiltInTransformation"
	OperationDestination           = "Destination"
)

// DataflowSourceOperationSettings reads DataSources (topic filters) from an endpoint.
type DataflowSourceOperationSettings struct {
	EndpointRef         string   `json:"endpointRef"`
	AssetRef            string   `json:"assetRef,omitempty"`
	SerializationFormat string   `json:"serializationFormat,omitempty"` // Json
	SchemaRef           string   `json:"schemaRef,omitempty"`
	DataSources         []string `json:"dataSources"`
}

// DataflowBuiltInTransformationSettings maps, filters and enriches messages.
type DataflowBuiltInTransformationSettings struct {
	SerializationFormat string                                 `json:"serializationFormat,omitempty"` // Delta | Json | Parquet
	SchemaRef           string                                 `json:"schemaRef,omitempty"`
	Datasets            []DataflowBuiltInTransformationDataset `json:"datasets,omitempty"`
	Filter              []DataflowBuiltInTransformationFilter  `json:"filter,omitempty"`
	Map                 []DataflowBuiltInTransformationMap     `json:"map,omitempty"`
}

// DataflowBuiltInTransformationDataset enriches messages from a dataset.
type DataflowBuiltInTransformationDataset struct {
	Key        string   `json:"key"`
	SchemaRef  string   `json:"schemaRef,omitempty"`
	Inputs     []string `json:"inputs"`
	Expression string   `json:"expression,omitempty"`
}

// DataflowBuiltInTransformationFilter drops messages for which Expression is true.
type DataflowBuiltInTransformationFilter struct {
	Type       string   `json:"type,omitempty"` // Filter
	Inputs     []string `json:"inputs"`
	Expression string   `json:"expression"`
}

// DataflowBuiltInTransformationMap maps inputs to an output field; PassThrough with
// inputs ["*"] and output "*" copies the message unchanged.
type DataflowBuiltInTransformationMap struct {
	Type       string   `json:"type,omitempty"` // NewProperties | Rename | Compute | PassThrough | BuiltInFunction
	Inputs     []string `json:"inputs"`
	Expression string   `json:"expression,omitempty"`
	Output     string   `json:"output"`
}

// DataflowDestinationOperationSettings writes to DataDestination (a topic) on an endpoint.
type DataflowDestinationOperationSettings struct {
	EndpointRef     string `json:"endpointRef"`
	DataDestination string `json:"dataDestination"`
}

// ---- Kubernetes objects around the AIO resources ----

// SecretProviderClassSpec is the secrets-store CSI driver's SecretProviderClass spec.
type SecretProviderClassSpec struct {
	Provider   string            `json:"provider"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

// SecretSyncSpec is the Secret Sync Controller's SecretSync spec.
type SecretSyncSpec struct {
	ServiceAccountName      string       `json:"serviceAccountName"`
	SecretProviderClassName string       `json:"secretProviderClassName"`
	SecretObject            SecretObject `json:"secretObject"`
}

// SecretObject is the Kubernetes secret a SecretSync writes.
type SecretObject struct {
	Type string             `json:"type"`
	Data []SecretObjectData `json:"data"`
}

// SecretObjectData copies one provider object (SourcePath) into one secret key.
type SecretObjectData struct {
	SourcePath string `json:"sourcePath"`
	TargetKey  string `json:"targetKey"`
}

// BundleSpec is trust-manager's Bundle spec: CA certificates gathered from Sources and
// written to a config map in every namespace the target selects.
type BundleSpec struct {
	Sources []BundleSource `json:"sources"`
	Target  BundleTarget   `json:"target"`
}

// BundleSource is one source of a Bundle; exactly one field is set.
type BundleSource struct {
	UseDefaultCAs *bool              `json:"useDefaultCAs,omitempty"`
	Secret        *BundleKeySelector `json:"secret,omitempty"`
	ConfigMap     *BundleKeySelector `json:"configMap,omitempty"`
	InLine        *string            `json:"inLine,omitempty"`
}

// BundleKeySelector selects one key of a secret or config map.
type BundleKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// BundleTarget is where the bundle is written.
type BundleTarget struct {
	ConfigMap         *BundleTargetKey `json:"configMap,omitempty"`
	Secret            *BundleTargetKey `json:"secret,omitempty"`
	NamespaceSelector *LabelSelector   `json:"namespaceSelector,omitempty"`
}

// BundleTargetKey is the key the bundle is written under.
type BundleTargetKey struct {
	Key string `json:"key"`
}

// LabelSelector is a Kubernetes label selector (matchLabels only).
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Ptr returns a pointer to v, for the optional numeric and boolean fields.
func Ptr[T any](v T) *T { return &v }
