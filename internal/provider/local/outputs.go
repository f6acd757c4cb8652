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
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// Output is one output value, terraform-style.
type Output struct {
	Name      string `json:"name"`
	Value     any    `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Outputs are the blueprint's outputs (reference §6) with their local meaning, plus what a
// user needs to talk to the brokers from inside the lab.
type Outputs struct {
	List []Output `json:"outputs"`
}

// Get returns the named output's value.
func (o *Outputs) Get(name string) (any, bool) {
	for _, x := range o.List {
		if x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}

// Outputs returns the outputs of the current deployment.
func (p *Provider) Outputs() (*Outputs, error) {
	d, err := p.Load()
	if err != nil {
		return nil, err
	}
	return p.outputs(d)
}

func (p *Provider) outputs(d *Deployment) (*Outputs, error) {
	cfg := d.Config
	names := d.Topology.Names()
	o := &Outputs{}
	add := func(name string, v any) { o.List = append(o.List, Output{Name: name, Value: v}) }
	for _, c := range []string{"a", "b"} {
		n := cfg.Names(c)
		cn, _ := names.Cluster(c)
		add("cluster_"+c+"_resource_group", n.ResourceGroup)
		add("cluster_"+c+"_virtual_network", map[string]any{"name": n.VNet, "address_space": clusterOf(d.Topology, c).AddressSpace.String(), "namespace": cn.RouterNS})
		add("cluster_"+c+"_arc_connected_cluster", n.ArcCluster)
		add("cluster_"+c+"_aio_instance", n.AIOInstance)
		// The local counterpart of `az connectedk8s proxy`: a shell inside the cluster's VM.
		add("cluster_"+c+"_azure_arc_proxy_command", fmt.Sprintf("dualpeer --state-dir %s exec %s -- bash", p.store.Dir, c))
		add("cluster_"+c+"_vm_private_ip", clusterOf(d.Topology, c).VMAddr.String())
		add("cluster_"+c+"_vm_namespace", cn.VMNS)
	}
	peer := map[string]any{
		"allow_virtual_network_access": d.Topology.Peering.AllowVirtualNetworkAccess,
		"allow_forwarded_traffic":      d.Topology.Peering.AllowForwardedTraffic,
		"allow_gateway_transit":        d.Topology.Peering.AllowGatewayTransit,
		"use_remote_gateways":          d.Topology.Peering.UseRemoteGateways,
	}
	pa := map[string]any{"name": cfg.Names("a").Peering}
	pb := map[string]any{"name": cfg.Names("b").Peering}
	for k, v := range peer {
		pa[k], pb[k] = v, v
	}
	add("vnet_peering_cluster_a_to_cluster_b", pa)
	add("vnet_peering_cluster_b_to_cluster_a", pb)
	add("cluster_a_mqtt_listener", netip.AddrPortFrom(d.Topology.A.VMAddr, uint16(cfg.EnterpriseBrokerPort)).String())
	f := p.clientFiles()
	add("client_certificate_files", map[string]any{
		"server_root_ca": f.ServerRootCA, "client_cert": f.ClientCert, "client_key": f.ClientKey,
	})
	add("mosquitto_sub_command", fmt.Sprintf("dualpeer --state-dir %s exec a -- mosquitto_sub -h %s -p %d --cafile %s --cert %s --key %s -t %s -q 1",
		p.store.Dir, d.Topology.A.VMAddr, cfg.EnterpriseBrokerPort, f.ServerRootCA, f.ClientCert, f.ClientKey, aio.DestinationTopic))
	if cfg.ShouldCreateAnonymousBrokerListener {
		add("mosquitto_pub_command", fmt.Sprintf("dualpeer --state-dir %s exec b -- mosquitto_pub -h 127.0.0.1 -p %d -q 1 -t %s -m hello",
			p.store.Dir, aio.AnonymousPort, aio.SourceTopic))
	}
	if cfg.DeployServerScript() {
		add("server_central_script", p.lay.scripts()+"/server-central.sh")
	}
	if cfg.DeployClientScript() {
		add("client_technology_script", p.lay.scripts()+"/client-technology.sh")
	}
	return o, nil
}

func clusterOf(t netlab.Topology, c string) netlab.Cluster {
	if c == "b" {
		return t.B
	}
	return t.A
}

// Status is the live view of the deployment.
type Status struct {
	Deployment *Deployment            `json:"deployment"`
	Network    *netlab.Status         `json:"network,omitempty"`
	NetworkErr string                 `json:"network_error,omitempty"`
	Agents     map[string]AgentStatus `json:"agents"`
}

// AgentStatus is one agent's process and its own report.
type AgentStatus struct {
	PIDs   []int         `json:"pids"`
	Ready  bool          `json:"ready"`
	Error  string        `json:"error,omitempty"`
	Status *agent.Status `json:"status,omitempty"`
	Log    string        `json:"log"`
}

// Status inspects namespaces, links, peering rules and both agents.
func (p *Provider) Status(ctx context.Context) (*Status, error) {
	d, err := p.Load()
	if err != nil {
		return nil, err
	}
	st := &Status{Deployment: d, Agents: map[string]AgentStatus{}}
	if ns, err := netlab.Inspect(ctx, d.Topology); err != nil {
		st.NetworkErr = err.Error()
	} else {
		st.Network = ns
	}
	for _, c := range []string{"a", "b"} {
		as := AgentStatus{PIDs: p.agentPIDs(c), Log: p.lay.agentLog(c)}
		cl := agent.Client{Socket: p.lay.agentSock(c)}
		if s, err := cl.Status(ctx); err != nil {
			as.Error = err.Error()
		} else {
			as.Status, as.Ready = s, true
		}
		st.Agents[c] = as
	}
	return st, nil
}

// ExecCommand returns argv that runs cmd inside cluster c's VM namespace (the local
// counterpart of the Arc proxy command).
func (p *Provider) ExecCommand(c string, cmd []string) ([]string, error) {
	d, err := p.Load()
	if err != nil {
		return nil, err
	}
	cn, ok := d.Topology.Names().Cluster(c)
	if !ok {
		return nil, fmt.Errorf("unknown cluster %q: use a or b", c)
	}
	if len(cmd) == 0 {
		return nil, fmt.Errorf("no command given: dualpeer exec %s -- CMD [ARGS...]", c)
	}
	return append([]string{"ip", "netns", "exec", cn.VMNS}, cmd...), nil
}

// LogPath is cluster c's agent log.
func (p *Provider) LogPath(c string) (string, error) {
	if c != "a" && c != "b" {
		return "", fmt.Errorf("unknown cluster %q: use a or b", c)
	}
	path := p.lay.agentLog(c)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no log for Cluster %s at %s: is the deployment up? (`dualpeer status`)", c, path)
	}
	return path, nil
}

// CertInfo describes one certificate a cluster holds (never a key).
type CertInfo struct {
	Name     string    `json:"name"`
	Cluster  string    `json:"cluster"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"not_after"`
}

// Certificates lists the certificates the clusters actually hold (what they serve and trust),
// read from their secrets and config maps, so expiry shown is the deployed one.
func (p *Provider) Certificates(d *Deployment) []CertInfo {
	cfg := d.Config
	a := clusterStore{dir: p.lay.cluster("a")}
	b := clusterStore{dir: p.lay.cluster("b")}
	var out []CertInfo
	add := func(name, cluster, path string, all bool) {
		var data []byte
		var err error
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			data, err = agent.ReadConfigMapPEM(path)
		} else {
			data, err = os.ReadFile(path)
		}
		if err != nil {
			return
		}
		certs, err := pki.ParseCerts(data)
		if err != nil {
			return
		}
		for i, c := range certs {
			if i > 0 && !all {
				break
			}
			n := name
			if i > 0 {
				n = name + " chain"
			}
			out = append(out, CertInfo{Name: n, Cluster: cluster, Subject: c.Subject.CommonName, NotAfter: c.NotAfter})
		}
	}
	add("server leaf (A's listener)", "a", filepath.Join(a.secretsDir(), cfg.EnterpriseBrokerTLSCertSecretName, aio.KeyTLSCert), false)
	add("client root CA (trusted by A)", "a", filepath.Join(a.configMapsDir(), cfg.EnterpriseClientCAConfigMapName), true)
	add("client leaf (B's endpoint)", "b", filepath.Join(b.secretsDir(), cfg.SiteClientSecretName, aio.KeyClientCert), false)
	add("server root CA (trusted by B)", "b", filepath.Join(b.configMapsDir(), cfg.SiteTLSCAConfigMapName), true)
	return out
}
