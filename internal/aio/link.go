package aio

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
)

// Names AIO itself uses (reference §3 "110-iot-ops ARM resources").
const (
	DefaultNamespace        = "azure-iot-operations"
	DefaultBroker           = "default"
	DefaultAuthentication   = "default"
	DefaultListener         = "default"
	AnonymousListener       = "default-anon"
	DefaultDataflowProfile  = "default"
	DefaultDataflowEndpoint = "default"
	DefaultServiceName      = "aio-broker"
	AnonymousServiceName    = "aio-broker-anon"
	DefaultPort             = 18883
	AnonymousPort           = 18884
	AnonymousNodePort       = 31884
	// SATAudience is the audience of AIO's internal service account tokens.
	SATAudience = "aio-internal"
	// TrustBundleConfigMap is AIO's trust bundle config map (reference §3, HEAD).
	TrustBundleConfigMap = "azure-iot-operations-aio-ca-trust-bundle"
	// CustomRootIssuer is the ClusterIssuer AIO's default listener certificate comes from.
	CustomRootIssuer = "issuer-custom-root-ca-cert"
)

// Names of the spec's MQTT link (reference §5, roles as the spec says: A = server).
const (
	CertAuthName            = "cert-auth"
	ServerListenerName      = "default-loadbalancer"
	ServerServiceName       = "aio-broker-loadbalancer"
	RemoteEndpointName      = "mqtt-cert-auth"
	ClientIDPrefix          = "client-cert-auth"
	LinkDataflowName        = "client-to-server-cert-auth"
	SourceTopic             = "input"
	DestinationTopic        = "output"
	DefaultServerPort       = 28883
	DefaultServerCertSecret = "broker-tls-cert"
	DefaultClientCAConfig   = "client-ca"
	DefaultClientSecret     = "client-secret"
	DefaultTrustedCAConfig  = "tls-ca-configmap"
)

// Keys inside the link's secrets and config maps. The client secret's keys are the ones
// AIO's X509Certificate endpoint authentication reads; the tls secret's are Kubernetes'.
// A consumer of a CA config map should treat every value as a PEM bundle (AIO does), the
// key names below are what dualpeer writes.
const (
	KeyTLSCert            = "tls.crt"
	KeyTLSKey             = "tls.key"
	KeyClientCert         = "client_cert.pem"
	KeyClientKey          = "client_key.pem"
	KeyClientIntermediate = "client_intermediate_certs.pem"
	KeyClientCA           = "client_ca.pem" // spec §8: configmap client-ca, key client_ca.pem
	KeyServerCA           = "server_ca.pem"
)

// Key Vault secret names (reference §4 key-vault-publisher).
const (
	VaultServerRootCACert       = "server-root-ca-crt"
	VaultServerIntermediateCert = "server-intermediate-ca-crt"
	VaultServerLeafCert         = "server-leaf-ca-crt"
	VaultServerLeafKey          = "server-leaf-ca-key"
	VaultClientRootCACert       = "client-root-ca-crt"
	VaultClientIntermediateCert = "client-intermediate-ca-crt"
	VaultClientLeafCert         = "client-leaf-ca-crt"
	VaultClientLeafKey          = "client-leaf-ca-key"
)

// LinkParams are the inputs of the MQTT link's resources. The zero value of each name means
// the blueprint default.
type LinkParams struct {
	Namespace          string     // AIO namespace; "" = azure-iot-operations
	ServerIP           netip.Addr // Cluster A's VM private IP (the server certificate's IP SAN)
	Port               int        // server listener port; 0 = 28883
	ServerCertSecret   string     // tls secret of the server listener; "" = broker-tls-cert
	ClientCAConfigMap  string     // config map with the client root CA on A; "" = client-ca
	ClientSecret       string     // secret with the client certificate on B; "" = client-secret
	TrustedCAConfigMap string     // config map with the server root CA on B; "" = tls-ca-configmap
	AnonymousListener  bool       // should_create_anonymous_broker_listener

	// Certs, when set, adds the Secret and ConfigMap objects with this material (what the
	// setup scripts create with kubectl, and what the local agent loads).
	Certs *LinkCerts
	// KeyVault, when set, adds the Key Vault mode objects (SecretProviderClass, SecretSync,
	// Bundle) that make the same secrets and config maps appear from Key Vault.
	KeyVault *KeyVaultParams
}

// LinkCerts is the PEM material of the link. Each cluster uses only its part: A the server
// chain and key and the client root; B the client leaf, key and intermediate and the server root.
type LinkCerts struct {
	ServerChainPEM        []byte // server leaf followed by its intermediate(s) (and root)
	ServerKeyPEM          []byte
	ClientRootCAPEM       []byte
	ClientLeafPEM         []byte
	ClientKeyPEM          []byte
	ClientIntermediatePEM []byte
	ServerRootCAPEM       []byte
}

// String never prints key material.
func (c *LinkCerts) String() string { return "(certificates and keys redacted)" }

// GoString never prints key material.
func (c *LinkCerts) GoString() string { return c.String() }

// KeyVaultParams identify the vault and the identity the secret sync uses.
type KeyVaultParams struct {
	VaultName            string // kv-P-E-I
	TenantID             string
	ClientID             string // client id of the secret sync identity (id-P-sse-E-I)
	ConnectedClusterName string // Arc cluster name (arck-P-E-I), part of the cert-manager SPC name
}

// Validate reports what would make the link's resources unusable, all at once.
func (p LinkParams) Validate() error {
	var errs []error
	if !p.ServerIP.IsValid() {
		errs = append(errs, fmt.Errorf("link parameters: ServerIP is not set: it must be Cluster A's VM private IP (the server certificate's IP SAN)"))
	}
	if p.Port < 0 || p.Port > 65535 {
		errs = append(errs, fmt.Errorf("link parameters: Port %d is out of range: use 1-65535 (enterprise_broker_port, default 28883)", p.Port))
	}
	return errors.Join(errs...)
}

// serverHost is "<A's IP>:<port>" ("[ip6]:port" for IPv6); empty when the IP is unknown,
// which Validate reports.
func (p LinkParams) serverHost() string {
	if !p.ServerIP.IsValid() || p.Port < 0 || p.Port > 65535 {
		return ""
	}
	return netip.AddrPortFrom(p.ServerIP, uint16(p.Port)).String()
}

func (p LinkParams) withDefaults() LinkParams {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&p.Namespace, DefaultNamespace)
	def(&p.ServerCertSecret, DefaultServerCertSecret)
	def(&p.ClientCAConfigMap, DefaultClientCAConfig)
	def(&p.ClientSecret, DefaultClientSecret)
	def(&p.TrustedCAConfigMap, DefaultTrustedCAConfig)
	if p.Port == 0 {
		p.Port = DefaultServerPort
	}
	return p
}

// defaultBrokerObjects are the objects AIO creates with every instance and that the link's
// resources reference: the SAT authentication and the default listener(s).
func defaultBrokerObjects(m *Manifests, p LinkParams) {
	m.Authentications = append(m.Authentications, NewBrokerAuthentication(DefaultAuthentication, p.Namespace,
		BrokerAuthenticationSpec{AuthenticationMethods: []BrokerAuthenticatorMethods{{
			Method:                      "ServiceAccountToken",
			ServiceAccountTokenSettings: &BrokerAuthenticatorMethodSat{Audiences: []string{SATAudience}},
		}}}))
	m.Listeners = append(m.Listeners, NewBrokerListener(DefaultListener, p.Namespace, BrokerListenerSpec{
		BrokerRef:   DefaultBroker,
		ServiceName: DefaultServiceName,
		ServiceType: "ClusterIp",
		Ports: []ListenerPort{{
			Port:              DefaultPort,
			Protocol:          "Mqtt",
			AuthenticationRef: DefaultAuthentication,
			TLS: &TLSCertMethod{Mode: "Automatic", CertManagerCertificateSpec: &CertManagerCertificateSpec{
				IssuerRef: CertManagerIssuerRef{Group: "cert-manager.io", Kind: "ClusterIssuer", Name: CustomRootIssuer},
			}},
		}},
	}))
	if p.AnonymousListener {
		// No authenticationRef and no TLS: anyone on the network may publish. Only with
		// should_create_anonymous_broker_listener (the quick start uses it for local tools).
		m.Listeners = append(m.Listeners, NewBrokerListener(AnonymousListener, p.Namespace, BrokerListenerSpec{
			BrokerRef:   DefaultBroker,
			ServiceName: AnonymousServiceName,
			ServiceType: "NodePort",
			Ports:       []ListenerPort{{Port: AnonymousPort, NodePort: AnonymousNodePort, Protocol: "Mqtt"}},
		}))
	}
}

// ServerResources are Cluster A's (MQTT server) objects: AIO's default authentication and
// listener(s), the X.509 BrokerAuthentication trusting the client root CA, and the TLS
// listener on Port with the server certificate; plus the secret and config map (Certs) or
// the Key Vault objects that produce them (KeyVault).
func ServerResources(p LinkParams) *Manifests {
	p = p.withDefaults()
	m := &Manifests{}
	defaultBrokerObjects(m, p)
	m.Authentications = append(m.Authentications, NewBrokerAuthentication(CertAuthName, p.Namespace,
		BrokerAuthenticationSpec{AuthenticationMethods: []BrokerAuthenticatorMethods{{
			Method:       "X509",
			X509Settings: &BrokerAuthenticatorMethodX509{TrustedClientCaCert: p.ClientCAConfigMap},
		}}}))
	m.Listeners = append(m.Listeners, NewBrokerListener(ServerListenerName, p.Namespace, BrokerListenerSpec{
		BrokerRef:   DefaultBroker,
		ServiceName: ServerServiceName,
		ServiceType: "LoadBalancer",
		Ports: []ListenerPort{{
			Port:              p.Port,
			Protocol:          "Mqtt",
			AuthenticationRef: CertAuthName,
			TLS:               &TLSCertMethod{Mode: "Manual", Manual: &X509ManualCertificate{SecretRef: p.ServerCertSecret}},
		}},
	}))
	if c := p.Certs; c != nil {
		m.Secrets = append(m.Secrets, NewSecret(p.ServerCertSecret, p.Namespace, "kubernetes.io/tls",
			map[string][]byte{KeyTLSCert: clone(c.ServerChainPEM), KeyTLSKey: clone(c.ServerKeyPEM)}))
		m.ConfigMaps = append(m.ConfigMaps, NewConfigMap(p.ClientCAConfigMap, p.Namespace,
			map[string]string{KeyClientCA: string(c.ClientRootCAPEM)}))
	}
	if kv := p.KeyVault; kv != nil {
		keyVaultObjects(m, p, *kv, "a",
			[]string{VaultServerLeafCert, VaultServerLeafKey},
			SecretObject{Type: "kubernetes.io/tls", Data: []SecretObjectData{
				{SourcePath: VaultServerLeafCert, TargetKey: KeyTLSCert},
				{SourcePath: VaultServerLeafKey, TargetKey: KeyTLSKey},
			}}, p.ServerCertSecret,
			VaultClientRootCACert, p.ClientCAConfigMap)
	}
	return m
}

// ClientResources are Cluster B's (MQTT client) objects: AIO's default authentication,
// listener(s), endpoint and profile, the remote endpoint to A's broker with X.509 client
// authentication, and the PassThrough dataflow input → output; plus the client secret and the
// trusted CA config map (Certs) or the Key Vault objects that produce them (KeyVault).
//
// p.ServerIP must be set (see Validate); without it the remote endpoint has no host.
func ClientResources(p LinkParams) *Manifests {
	p = p.withDefaults()
	m := &Manifests{}
	defaultBrokerObjects(m, p)
	m.Endpoints = append(m.Endpoints,
		NewDataflowEndpoint(DefaultDataflowEndpoint, p.Namespace, DataflowEndpointSpec{
			EndpointType: "Mqtt",
			MqttSettings: &DataflowEndpointMqtt{
				Authentication: DataflowEndpointMqttAuthentication{
					Method:                      "ServiceAccountToken",
					ServiceAccountTokenSettings: &DataflowEndpointAuthenticationServiceAccountToken{Audience: SATAudience},
				},
				Host: DefaultServiceName + ":" + strconv.Itoa(DefaultPort),
				TLS:  &TLSProperties{Mode: "Enabled", TrustedCaCertificateConfigMapRef: TrustBundleConfigMap},
			},
		}),
		NewDataflowEndpoint(RemoteEndpointName, p.Namespace, DataflowEndpointSpec{
			EndpointType: "Mqtt",
			MqttSettings: &DataflowEndpointMqtt{
				Authentication: DataflowEndpointMqttAuthentication{
					Method:                  "X509Certificate",
					X509CertificateSettings: &DataflowEndpointAuthenticationX509{SecretRef: p.ClientSecret},
				},
				ClientIDPrefix:       ClientIDPrefix,
				CloudEventAttributes: "Propagate",
				Host:                 p.serverHost(),
				KeepAliveSeconds:     Ptr(60),
				MaxInflightMessages:  Ptr(100),
				Protocol:             "Mqtt",
				QoS:                  Ptr(1),
				Retain:               "Keep",
				SessionExpirySeconds: Ptr(3600),
				TLS:                  &TLSProperties{Mode: "Enabled", TrustedCaCertificateConfigMapRef: p.TrustedCAConfigMap},
			},
		}))
	m.Profiles = append(m.Profiles, NewDataflowProfile(DefaultDataflowProfile, p.Namespace, DataflowProfileSpec{InstanceCount: 1}))
	m.Dataflows = append(m.Dataflows, NewDataflow(LinkDataflowName, p.Namespace, DataflowSpec{
		ProfileRef: DefaultDataflowProfile,
		Mode:       "Enabled",
		Operations: []DataflowOperation{
			{OperationType: OperationSource, SourceSettings: &DataflowSourceOperationSettings{
				EndpointRef: DefaultDataflowEndpoint, DataSources: []string{SourceTopic}, SerializationFormat: "Json",
			}},
			{OperationType: OperationBuiltInTransformation, BuiltInTransformationSettings: &DataflowBuiltInTransformationSettings{
				SerializationFormat: "Json",
				Map:                 []DataflowBuiltInTransformationMap{{Inputs: []string{"*"}, Output: "*", Type: "PassThrough"}},
			}},
			{OperationType: OperationDestination, DestinationSettings: &DataflowDestinationOperationSettings{
				EndpointRef: RemoteEndpointName, DataDestination: DestinationTopic,
			}},
		},
	}))
	if c := p.Certs; c != nil {
		m.Secrets = append(m.Secrets, NewSecret(p.ClientSecret, p.Namespace, "Opaque", map[string][]byte{
			KeyClientCert:         clone(c.ClientLeafPEM),
			KeyClientKey:          clone(c.ClientKeyPEM),
			KeyClientIntermediate: clone(c.ClientIntermediatePEM),
		}))
		m.ConfigMaps = append(m.ConfigMaps, NewConfigMap(p.TrustedCAConfigMap, p.Namespace,
			map[string]string{KeyServerCA: string(c.ServerRootCAPEM)}))
	}
	if kv := p.KeyVault; kv != nil {
		keyVaultObjects(m, p, *kv, "b",
			[]string{VaultClientIntermediateCert, VaultClientLeafCert, VaultClientLeafKey},
			SecretObject{Type: "Opaque", Data: []SecretObjectData{
				{SourcePath: VaultClientIntermediateCert, TargetKey: KeyClientIntermediate},
				{SourcePath: VaultClientLeafCert, TargetKey: KeyClientCert},
				{SourcePath: VaultClientLeafKey, TargetKey: KeyClientKey},
			}}, p.ClientSecret,
			VaultServerRootCACert, p.TrustedCAConfigMap)
	}
	return m
}

// keyVaultObjects adds the Key Vault mode objects of one cluster (reference §5):
//   - in the AIO namespace, SecretProviderClass spc-ops-aio-<cluster> with the cluster's own
//     secrets and a SecretSync that writes them as secretName (the azapi module's objects);
//   - in cert-manager, a SecretProviderClass with the peer's root CA, a SecretSync into
//     certificates-sync-<cluster>, and a trust-manager Bundle that publishes that root CA as
//     config map caConfigMap (key = its name) in every namespace labelled ca-bundle/inject.
func keyVaultObjects(m *Manifests, p LinkParams, kv KeyVaultParams, cluster string,
	ownObjects []string, own SecretObject, secretName string, rootCA, caConfigMap string) {
	params := func(objects ...string) map[string]string {
		return map[string]string{
			"clientID":     kv.ClientID,
			"keyvaultName": kv.VaultName,
			"tenantId":     kv.TenantID,
			"objects":      spcObjects(objects),
		}
	}
	spcName := "spc-ops-aio-" + cluster
	m.SecretProviderClasses = append(m.SecretProviderClasses,
		NewSecretProviderClass(spcName, p.Namespace, SecretProviderClassSpec{Provider: "azure", Parameters: params(ownObjects...)}))
	m.SecretSyncs = append(m.SecretSyncs, NewSecretSync(secretName, p.Namespace, SecretSyncSpec{
		ServiceAccountName: "aio-ssc-sa", SecretProviderClassName: spcName, SecretObject: own,
	}))

	const certManagerNS = "cert-manager"
	caSPC := "spc-ops-aio-" + kv.ConnectedClusterName
	if kv.ConnectedClusterName == "" {
		caSPC = "spc-ops-aio-ca-" + cluster
	}
	synced := "certificates-sync-" + cluster
	m.SecretProviderClasses = append(m.SecretProviderClasses,
		NewSecretProviderClass(caSPC, certManagerNS, SecretProviderClassSpec{Provider: "azure", Parameters: params(rootCA)}))
	m.SecretSyncs = append(m.SecretSyncs, NewSecretSync(synced, certManagerNS, SecretSyncSpec{
		ServiceAccountName: "sa-federated-cred-sse", SecretProviderClassName: caSPC,
		SecretObject: SecretObject{Type: "Opaque", Data: []SecretObjectData{{SourcePath: rootCA, TargetKey: rootCA}}},
	}))
	m.Bundles = append(m.Bundles, NewBundle(caConfigMap, BundleSpec{
		Sources: []BundleSource{
			{UseDefaultCAs: Ptr(false)},
			{Secret: &BundleKeySelector{Name: synced, Key: rootCA}},
		},
		Target: BundleTarget{
			ConfigMap:         &BundleTargetKey{Key: caConfigMap},
			NamespaceSelector: &LabelSelector{MatchLabels: map[string]string{"ca-bundle/inject": "enabled"}},
		},
	}))
}

// spcObjects renders the Azure provider's "objects" parameter in the HEAD format:
// "array:" followed by one "- |" item per secret.
func spcObjects(names []string) string {
	s := "array:\n"
	for _, n := range names {
		s += "  - |\n    objectName: " + n + "\n    objectType: secret\n"
	}
	return s
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
