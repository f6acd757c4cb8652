package graph

import (
	"fmt"
	"github.com/dualpeer/dualpeer/internal/aio"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// Stable element ids. Renderers use them as SVG ids / DOT and Mermaid node names, and the
// dashboard uses them to find elements, so they never change with the configuration.
const (
	IDVNetA        = "vnet-a"
	IDVNetB        = "vnet-b"
	IDSubnetA      = "subnet-a"
	IDSubnetB      = "subnet-b"
	IDVMA          = "vm-a" // the VM, and the dualpeer agent running on it
	IDVMB          = "vm-b"
	IDPeering      = "peering"
	IDListener     = "listener-x509" // A's X.509 TLS listener
	IDAnonListener = "listener-anon" // A's anonymous listener (optional)
	IDDataflow     = "dataflow"      // B's dataflow input → output
	IDEndpoint     = "endpoint"      // B's dataflow endpoint to A's listener
	IDClientCA     = "ca-client"     // client root CA, trusted by A's listener
	IDServerCA     = "ca-server"     // server root CA, trusted by B's endpoint
)

// Status is the live state of one element. The zero value means "not known" (a picture drawn
// from the configuration before anything runs).
type Status string

const (
	StatusUnknown Status = ""
	StatusUp      Status = "up"
	StatusDown    Status = "down"
)

// Counter is one live figure shown next to an element ("msgs in" = "1204"). Values are strings
// so the caller decides units and precision; order is kept as given so output is deterministic.
type Counter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// State is the optional live overlay of one element.
type State struct {
	Status   Status    `json:"status,omitempty"`
	Detail   string    `json:"detail,omitempty"` // one short line, e.g. "Connected" or the last error
	Counters []Counter `json:"counters,omitempty"`
}

// Network is a VNet or a subnet.
type Network struct {
	ID     string `json:"id"`
	Name   string `json:"name"`   // e.g. vnet-dpa-dev-001; empty when the naming variables are unset
	Prefix string `json:"prefix"` // CIDR as configured
}

// VM is a cluster's single VM; locally it is a network namespace running the dualpeer agent.
type VM struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	IP    string `json:"ip"` // the address Azure gives the first NIC of a fresh subnet (.4)
	State State  `json:"state"`
}

// Cluster is one side of the topology.
type Cluster struct {
	Key    string  `json:"key"`   // "a" or "b"
	Label  string  `json:"label"` // "Cluster A"
	Role   string  `json:"role"`  // "MQTT server" / "MQTT client"
	VNet   Network `json:"vnet"`
	Subnet Network `json:"subnet"`
	VM     VM      `json:"vm"`
}

// Peering is the bidirectional VNet peering and its four settings (the same on both halves).
type Peering struct {
	ID                        string `json:"id"`
	NameAToB                  string `json:"name_a_to_b"`
	NameBToA                  string `json:"name_b_to_a"`
	AllowVirtualNetworkAccess bool   `json:"allow_virtual_network_access"`
	AllowForwardedTraffic     bool   `json:"allow_forwarded_traffic"`
	AllowGatewayTransit       bool   `json:"allow_gateway_transit"`
	UseRemoteGateways         bool   `json:"use_remote_gateways"`
	State                     State  `json:"state"`
}

// Listener is a broker listener on Cluster A.
type Listener struct {
	ID        string `json:"id"`
	Name      string `json:"name"`       // BrokerListener name
	Port      int    `json:"port"`       // listening port
	TLS       string `json:"tls"`        // e.g. "Manual (broker-tls-cert)", "none"
	Auth      string `json:"auth"`       // e.g. "X.509 (cert-auth)", "anonymous"
	TrustedCA string `json:"trusted_ca"` // config map holding the CA it trusts for client certs; "" = none
	State     State  `json:"state"`
}

// Dataflow is Cluster B's dataflow and the endpoint it sends to.
type Dataflow struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Source       string `json:"source"`      // topic on B's local broker
	Destination  string `json:"destination"` // topic on A's broker
	Transform    string `json:"transform"`   // "PassThrough"
	EndpointID   string `json:"endpoint_id"`
	EndpointName string `json:"endpoint_name"`
	Host         string `json:"host"`       // A's VM IP and listener port
	Auth         string `json:"auth"`       // e.g. "X.509 client cert (client-secret)"
	TrustedCA    string `json:"trusted_ca"` // config map holding the server root CA
	State        State  `json:"state"`
	// EndpointState is the connection of the endpoint to A's listener.
	EndpointState State `json:"endpoint_state"`
}

// CA is a root certificate authority and who trusts it.
type CA struct {
	ID        string `json:"id"`
	Name      string `json:"name"`       // "Client Root CA"
	Issues    string `json:"issues"`     // what its chain issues, e.g. "B's client certificate"
	TrustedBy string `json:"trusted_by"` // who trusts it, e.g. "A's listener (client-ca)"
	State     State  `json:"state"`      // e.g. counters {"expires", "2027-03-01"}
}

// Model is everything the picture shows.
type Model struct {
	Title        string    `json:"title"`
	Subtitle     string    `json:"subtitle"`
	A            Cluster   `json:"a"`
	B            Cluster   `json:"b"`
	Peering      Peering   `json:"peering"`
	Listener     Listener  `json:"listener"`
	AnonListener *Listener `json:"anon_listener,omitempty"` // nil when should_create_anonymous_broker_listener=false
	Dataflow     Dataflow  `json:"dataflow"`
	ClientCA     CA        `json:"client_ca"`
	ServerCA     CA        `json:"server_ca"`
	Live         bool      `json:"live"` // true once live state was applied
}

// Names of the MQTT link resources: the picture shows what internal/aio creates, so it takes
// the names from there rather than repeating them.
const (
	listenerName     = aio.ServerListenerName
	authName         = aio.CertAuthName
	anonListenerName = aio.AnonymousListener
	anonListenerPort = aio.AnonymousPort
	dataflowName     = aio.LinkDataflowName
	endpointName     = aio.RemoteEndpointName
)

// FromConfig builds the picture of a configuration. It never fails: an address that does not
// parse is shown as "(invalid)" so a person can still see the rest; validation reports it.
func FromConfig(cfg *blueprint.Config) Model {
	a := cluster(cfg, "a", "Cluster A", "MQTT server", cfg.ClusterAVirtualNetworkConfig)
	b := cluster(cfg, "b", "Cluster B", "MQTT client", cfg.ClusterBVirtualNetworkConfig)

	m := Model{
		Title:    "dualpeer topology",
		Subtitle: subtitle(cfg),
		A:        a,
		B:        b,
		Peering: Peering{
			ID:                        IDPeering,
			NameAToB:                  cfg.Names("a").Peering,
			NameBToA:                  cfg.Names("b").Peering,
			AllowVirtualNetworkAccess: cfg.VnetPeeringAllowVirtualNetworkAccess,
			AllowForwardedTraffic:     cfg.VnetPeeringAllowForwardedTraffic,
			AllowGatewayTransit:       cfg.VnetPeeringAllowGatewayTransit,
			UseRemoteGateways:         cfg.VnetPeeringUseRemoteGateways,
		},
		Listener: Listener{
			ID:        IDListener,
			Name:      listenerName,
			Port:      cfg.EnterpriseBrokerPort,
			TLS:       fmt.Sprintf("TLS Manual (%s)", cfg.EnterpriseBrokerTLSCertSecretName),
			Auth:      fmt.Sprintf("X.509 (%s)", authName),
			TrustedCA: cfg.EnterpriseClientCAConfigMapName,
		},
		Dataflow: Dataflow{
			ID:           IDDataflow,
			Name:         dataflowName,
			Source:       "input",
			Destination:  "output",
			Transform:    "PassThrough",
			EndpointID:   IDEndpoint,
			EndpointName: endpointName,
			Host:         fmt.Sprintf("%s:%d", a.VM.IP, cfg.EnterpriseBrokerPort),
			Auth:         fmt.Sprintf("X.509 client cert (%s)", cfg.SiteClientSecretName),
			TrustedCA:    cfg.SiteTLSCAConfigMapName,
		},
		ClientCA: CA{
			ID:        IDClientCA,
			Name:      "Client Root CA",
			Issues:    "issues B's client cert",
			TrustedBy: fmt.Sprintf("trusted by A's listener (%s)", cfg.EnterpriseClientCAConfigMapName),
		},
		ServerCA: CA{
			ID:        IDServerCA,
			Name:      "Server Root CA",
			Issues:    fmt.Sprintf("issues A's server cert (SAN %s)", a.VM.IP),
			TrustedBy: fmt.Sprintf("trusted by B's endpoint (%s)", cfg.SiteTLSCAConfigMapName),
		},
	}
	if cfg.ShouldCreateAnonymousBrokerListener {
		m.AnonListener = &Listener{
			ID:   IDAnonListener,
			Name: anonListenerName,
			Port: anonListenerPort,
			TLS:  "no TLS",
			Auth: "anonymous",
		}
	}
	return m
}

func subtitle(cfg *blueprint.Config) string {
	s := "certificates: " + string(cfg.CertMode())
	if cfg.ResourcePrefix != "" || cfg.Environment != "" {
		s = fmt.Sprintf("%s · %s · %s", cfg.ResourcePrefix, cfg.Environment, s)
	}
	if cfg.Location != "" {
		s += " · location " + cfg.Location
	}
	return s
}

func cluster(cfg *blueprint.Config, key, label, role string, net blueprint.VirtualNetworkConfig) Cluster {
	// Names only mean something once the naming variables are set; before that the picture says
	// "VNet" rather than show a half-built name.
	var n blueprint.Names
	if cfg.ResourcePrefix != "" && cfg.Environment != "" {
		n = cfg.Names(key)
	}
	ip := "(invalid subnet)"
	if a := cfg.VMPrivateIP(key); a.IsValid() {
		ip = a.String()
	}
	return Cluster{
		Key:    key,
		Label:  label,
		Role:   role,
		VNet:   Network{ID: "vnet-" + key, Name: n.VNet, Prefix: net.AddressSpace},
		Subnet: Network{ID: "subnet-" + key, Name: n.Subnet, Prefix: net.SubnetAddressPrefix},
		VM:     VM{ID: "vm-" + key, Name: n.VM, IP: ip},
	}
}

// Live is the live state the caller collected (from the agents' status sockets, the local
// network lab or Azure). Nil fields leave the element as it was.
type Live struct {
	AgentA       *State `json:"agent_a,omitempty"`
	AgentB       *State `json:"agent_b,omitempty"`
	Peering      *State `json:"peering,omitempty"`
	Listener     *State `json:"listener,omitempty"`
	AnonListener *State `json:"anon_listener,omitempty"`
	Dataflow     *State `json:"dataflow,omitempty"`
	Endpoint     *State `json:"endpoint,omitempty"`
	ClientCA     *State `json:"client_ca,omitempty"`
	ServerCA     *State `json:"server_ca,omitempty"`
}

// ApplyLive overlays live state on the model.
func (m *Model) ApplyLive(l Live) {
	set := func(dst *State, src *State) {
		if src != nil {
			*dst = *src
			dst.Counters = append([]Counter(nil), src.Counters...)
		}
	}
	set(&m.A.VM.State, l.AgentA)
	set(&m.B.VM.State, l.AgentB)
	set(&m.Peering.State, l.Peering)
	set(&m.Listener.State, l.Listener)
	if m.AnonListener != nil {
		set(&m.AnonListener.State, l.AnonListener)
	}
	set(&m.Dataflow.State, l.Dataflow)
	set(&m.Dataflow.EndpointState, l.Endpoint)
	set(&m.ClientCA.State, l.ClientCA)
	set(&m.ServerCA.State, l.ServerCA)
	m.Live = true
}
