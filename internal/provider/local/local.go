package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/netcheck"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/state"
)

// stateName is the deployment document in the state directory; idFile holds only its id.
const (
	stateName = "local.json"
	idFile    = "local.id"
)

// Progress receives the steps of long work; the CLI renders them (spinner or timestamped lines).
type Progress interface {
	Start(name string) func(err error)
	Debugf(format string, args ...any)
}

type nopProgress struct{}

func (nopProgress) Start(string) func(error) { return func(error) {} }
func (nopProgress) Debugf(string, ...any)    {}

// Options configure a Provider.
type Options struct {
	StateDir string
	// AgentExe is the dualpeer binary started as `agent` inside each VM namespace; empty means
	// this executable.
	AgentExe string
	Progress Progress
}

// Provider runs deployments on this host.
type Provider struct {
	store    *state.Store
	lay      layout
	agentExe string
	prog     Progress
}

// New opens the state directory.
func New(o Options) (*Provider, error) {
	st, err := state.Open(o.StateDir)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", o.StateDir, err)
	}
	exe := o.AgentExe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the dualpeer binary to start agents: %w", err)
		}
	}
	p := o.Progress
	if p == nil {
		p = nopProgress{}
	}
	return &Provider{store: st, lay: layout{root: abs}, agentExe: exe, prog: p}, nil
}

// Deployment is the saved state of one local deployment. It holds no secrets.
type Deployment struct {
	ID        string            `json:"id"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Topology  netlab.Topology   `json:"topology"`
	Config    *blueprint.Config `json:"config"`   // external_certificates removed
	Complete  bool              `json:"complete"` // the last up got to the end
}

func redactedConfig(cfg *blueprint.Config) *blueprint.Config {
	c := *cfg
	c.ExternalCertificates = nil
	return &c
}

// TopologyFor maps the configuration onto the lab topology.
func TopologyFor(id string, cfg *blueprint.Config) (netlab.Topology, error) {
	cl := func(key string, vc blueprint.VirtualNetworkConfig) (netlab.Cluster, error) {
		as, err := netip.ParsePrefix(vc.AddressSpace)
		if err != nil {
			return netlab.Cluster{}, fmt.Errorf("cluster_%s_virtual_network_config.address_space %q: %w", key, vc.AddressSpace, err)
		}
		sn, err := netip.ParsePrefix(vc.SubnetAddressPrefix)
		if err != nil {
			return netlab.Cluster{}, fmt.Errorf("cluster_%s_virtual_network_config.subnet_address_prefix %q: %w", key, vc.SubnetAddressPrefix, err)
		}
		return netlab.Cluster{Key: key, AddressSpace: as, Subnet: sn, VMAddr: cfg.VMPrivateIP(key)}, nil
	}
	a, err := cl("a", cfg.ClusterAVirtualNetworkConfig)
	if err != nil {
		return netlab.Topology{}, err
	}
	b, err := cl("b", cfg.ClusterBVirtualNetworkConfig)
	if err != nil {
		return netlab.Topology{}, err
	}
	return netlab.Topology{ID: id, A: a, B: b, Peering: netlab.Peering{
		AllowVirtualNetworkAccess: cfg.VnetPeeringAllowVirtualNetworkAccess,
		AllowForwardedTraffic:     cfg.VnetPeeringAllowForwardedTraffic,
		AllowGatewayTransit:       cfg.VnetPeeringAllowGatewayTransit,
		UseRemoteGateways:         cfg.VnetPeeringUseRemoteGateways,
	}}, nil
}

// load reads the deployment; (nil, nil) when there is none.
func (p *Provider) load() (*Deployment, error) {
	var d Deployment
	err := p.store.Load(stateName, &d)
	if errors.Is(err, state.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Load returns the current deployment, or an error that says to run `up` when there is none.
func (p *Provider) Load() (*Deployment, error) {
	d, err := p.load()
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, fmt.Errorf("no local deployment in %s: run `dualpeer up` first", p.store.Dir)
	}
	return d, nil
}

// Result is what up reports.
type Result struct {
	Deployment *Deployment
	Check      *netcheck.Report
	Outputs    *Outputs
	Changed    bool
}

// Up creates or converges the deployment for cfg, waits for both agents and runs the
// connectivity test. It is idempotent: a second Up with the same configuration changes nothing.
func (p *Provider) Up(ctx context.Context, cfg *blueprint.Config) (*Result, error) {
	if err := netlab.CheckPrivileges(); err != nil {
		return nil, err
	}
	unlock, err := p.store.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	d, err := p.load()
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if d == nil {
		id, err := netlab.NewID()
		if err != nil {
			return nil, err
		}
		d = &Deployment{ID: id, CreatedAt: now}
	}
	// The id also goes into a plain file of its own, so that `down` can still find the lab when
	// local.json was moved aside as corrupt.
	if err := state.WriteFileAtomic(p.store.Path(idFile), []byte(d.ID+"\n"), 0o600); err != nil {
		return nil, err
	}
	topo, err := TopologyFor(d.ID, cfg)
	if err != nil {
		return nil, err
	}
	if d.Topology.ID != "" && d.Topology != topo {
		// The address plan changed: the old lab cannot be converged in place (addresses and
		// routes are everywhere), so it is removed first, agents included.
		end := p.prog.Start("Removing the previous lab (its address plan changed)")
		p.stopAgents(ctx)
		err := netlab.Destroy(ctx, d.Topology)
		end(err)
		if err != nil {
			return nil, err
		}
	}
	d.Topology, d.Config, d.UpdatedAt, d.Complete = topo, redactedConfig(cfg), now, false
	// Saved before anything is created, so that `down` after a crash knows what to remove.
	if err := p.store.Save(stateName, d); err != nil {
		return nil, err
	}

	res := &Result{Deployment: d}
	step := func(name string, fn func() error) error {
		end := p.prog.Start(name)
		err := fn()
		end(err)
		return err
	}
	if err := step("Creating virtual networks, VMs and the peering (network namespaces)", func() error {
		return netlab.Apply(ctx, topo)
	}); err != nil {
		return res, err
	}
	var mat *material
	if err := step(certStepName(cfg), func() error {
		var err error
		mat, err = p.ensureCertificates(ctx, cfg, topo.A.VMAddr)
		return err
	}); err != nil {
		return res, err
	}
	if err := step("Syncing secrets and applying the MQTT manifests to both clusters", func() error {
		ch, err := p.applyClusters(ctx, cfg, topo, mat)
		res.Changed = res.Changed || ch
		return err
	}); err != nil {
		return res, err
	}
	if cfg.DeployServerScript() || cfg.DeployClientScript() {
		if err := step("Rendering server-central.sh and client-technology.sh", func() error {
			return p.renderScripts(cfg, topo, mat)
		}); err != nil {
			return res, err
		}
	}
	if err := step("Starting the cluster agents", func() error {
		ch, err := p.startAgents(ctx, topo)
		res.Changed = res.Changed || ch
		return err
	}); err != nil {
		return res, err
	}
	if err := step("Waiting for both agents to be ready", func() error {
		// Generous: an agent restarted after a crash first replays its broker's queue from disk.
		return p.waitHealthy(ctx, 60*time.Second)
	}); err != nil {
		return res, err
	}
	d.Complete = true
	if err := p.store.Save(stateName, d); err != nil {
		return res, err
	}
	if err := step("Testing connectivity (ping, TCP, TLS, MQTT B -> A)", func() error {
		rep, err := p.test(ctx, d)
		res.Check = rep
		if err != nil {
			return err
		}
		return rep.Err()
	}); err != nil {
		res.Outputs, _ = p.outputs(d)
		return res, err
	}
	res.Outputs, err = p.outputs(d)
	return res, err
}

func certStepName(cfg *blueprint.Config) string {
	switch cfg.CertMode() {
	case blueprint.CertModeKeyVault:
		return "Reading certificates from the local Key Vault (Key Vault mode)"
	case blueprint.CertModeTerraform:
		return "Generating certificates (Terraform profile: RSA 4096/2048)"
	default:
		return "Generating certificates (step profile: EC P-256)"
	}
}

// Down removes everything the deployment made: agents, namespaces and links, generated files
// and the state. It works after a partial or crashed up, and when there is nothing to remove.
func (p *Provider) Down(ctx context.Context) error {
	unlock, err := p.store.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := p.load()
	if err != nil {
		return err
	}
	end := p.prog.Start("Stopping the cluster agents")
	p.stopAgents(ctx)
	end(nil)
	end = p.prog.Start("Removing network namespaces and links")
	switch {
	case d != nil:
		err = netlab.Destroy(ctx, d.Topology)
	default:
		// No state (never up, or local.json moved aside): the id file still names the lab.
		if b, rerr := os.ReadFile(p.store.Path(idFile)); rerr == nil {
			if id := strings.TrimSpace(string(b)); netlab.ValidateID(id) == nil {
				err = netlab.DestroyByID(ctx, id)
			}
		}
	}
	end(err)
	if err != nil {
		return err
	}
	end = p.prog.Start("Removing generated certificates, secrets and scripts")
	keepVault := d != nil && d.Config != nil && d.Config.CertMode() == blueprint.CertModeKeyVault
	for _, path := range p.lay.generated() {
		if keepVault && (path == filepath.Join(p.lay.root, "vault") || path == p.lay.material()) {
			continue // Key Vault mode: the user's imported chain is theirs; down must not lose it.
		}
		if err := os.RemoveAll(path); err != nil {
			end(err)
			return fmt.Errorf("remove %s: %w", path, err)
		}
	}
	err = errors.Join(p.store.Remove(stateName), p.store.Remove(idFile))
	end(err)
	return err
}
