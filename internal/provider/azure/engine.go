package azure

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dualpeer/dualpeer/internal/arm"
	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/state"
)

// ARM is what the engine needs from an ARM client (*arm.Client implements it).
type ARM interface {
	Get(ctx context.Context, id, apiVersion string) (map[string]any, error)
	Put(ctx context.Context, id, apiVersion string, body any) (map[string]any, error)
	Delete(ctx context.Context, id, apiVersion string) error
}

var _ ARM = (*arm.Client)(nil)

// Store persists the engine's state document (*state.Store implements it).
type Store interface {
	Load(name string, v any) error
	Save(name string, v any) error
}

// Certificates provides the eight Key Vault secrets (pki.Material.Secrets) for a server
// leaf whose IP SAN is serverIP; it reissues the server leaf when the IP differs from the
// one the material was made for.
type Certificates interface {
	Secrets(ctx context.Context, serverIP netip.Addr) (map[string][]byte, error)
}

// Scripts renders the setup script one cluster's VM runs as a run command. The script text
// is readable by anyone who can read the VM; key material must go in protected, which ARM
// never returns.
type Scripts interface {
	Render(ctx context.Context, cluster string, serverIP netip.Addr, secrets map[string][]byte) (script string, protected map[string]string, err error)
}

// Action says what the engine did (or is doing) with one resource.
type Action string

const (
	ActionCreate    Action = "create"
	ActionUpdate    Action = "update"
	ActionUnchanged Action = "unchanged"
	ActionWait      Action = "wait"   // waiting for a resource something else creates (Arc)
	ActionRead      Action = "read"   // an existing resource group, only checked
	ActionSkip      Action = "skip"   // not an ARM resource, or kept on destroy
	ActionDelete    Action = "delete" // destroy
)

// Event reports progress on one resource; the CLI renders it with the elapsed time.
type Event struct {
	Address string
	Type    string
	Name    string
	Action  Action
	Done    bool // false: started; true: finished (Err says how)
	Elapsed time.Duration
	Err     error
	Note    string
}

// Options configure Apply and Destroy.
type Options struct {
	ARM          ARM
	Subscription string
	// Principal is the deploying user or service principal (role assignments, Key Vault tenant).
	Principal arm.Principal
	// State, when set, receives the state document after every resource (name "azure").
	State Store
	// Parallelism bounds concurrent resources (default 8).
	Parallelism int
	// Progress receives an event when each resource starts and ends.
	Progress     func(Event)
	Certificates Certificates
	Scripts      Scripts
	// SSHPublicKey is the VMs' admin key (OpenSSH authorized_keys format).
	SSHPublicKey string
	// WaitTimeout bounds the wait for resources created inside the VM (the Arc connected
	// cluster; the bootstrap takes 10-30 minutes); default 60 minutes. WaitInterval paces it
	// (default 30 s).
	WaitTimeout  time.Duration
	WaitInterval time.Duration
}

// StateName is the state document the engine writes.
const StateName = "azure"

// State is the engine's state document: what was applied, and facts learnt from Azure.
type State struct {
	Subscription string                    `json:"subscription"`
	ServerIP     string                    `json:"server_ip,omitempty"` // A's NIC address as Azure assigned it
	Resources    map[string]*ResourceState `json:"resources"`
}

// ResourceState records one resource.
type ResourceState struct {
	ID          string    `json:"id"`
	Type        string    `json:"type"`
	APIVersion  string    `json:"api_version"`
	Done        bool      `json:"done"`
	Preexisting bool      `json:"preexisting,omitempty"` // existed before dualpeer first wrote it
	UpdatedAt   time.Time `json:"updated_at"`
}

// Result summarises an apply.
type Result struct {
	Outputs   map[string]string
	ServerIP  netip.Addr
	Created   int
	Updated   int
	Unchanged int
}

type engine struct {
	o    Options
	cfg  *blueprint.Config
	p    *plan.Plan
	byAd map[string]*plan.Resource
	st   *State

	mu       sync.Mutex
	actual   map[string]map[string]any // address → resource as ARM reports it
	srvIP    netip.Addr
	secrets  map[string][]byte
	secretIP netip.Addr
}

func newEngine(p *plan.Plan, o Options) (*engine, error) {
	if p == nil || p.Config == nil {
		return nil, errors.New("azure: the plan has no configuration; build it with plan.Build")
	}
	if o.ARM == nil {
		return nil, errors.New("azure: no ARM client configured")
	}
	if o.Subscription == "" {
		return nil, errors.New("azure: no subscription id; pass --subscription or export ARM_SUBSCRIPTION_ID")
	}
	if o.Parallelism <= 0 {
		o.Parallelism = 8
	}
	if o.WaitTimeout <= 0 {
		o.WaitTimeout = 60 * time.Minute
	}
	if o.WaitInterval <= 0 {
		o.WaitInterval = 30 * time.Second
	}
	e := &engine{o: o, cfg: p.Config, p: p, byAd: map[string]*plan.Resource{}, actual: map[string]map[string]any{}}
	for _, r := range p.Resources {
		e.byAd[r.Address] = r
	}
	e.st = &State{Subscription: o.Subscription, Resources: map[string]*ResourceState{}}
	if o.State != nil {
		var st State
		switch err := o.State.Load(StateName, &st); {
		case err == nil:
			if st.Subscription != "" && !strings.EqualFold(st.Subscription, o.Subscription) {
				return nil, fmt.Errorf("the state in this directory belongs to subscription %s, not %s: use that subscription, or another --state-dir", st.Subscription, o.Subscription)
			}
			if st.Resources == nil {
				st.Resources = map[string]*ResourceState{}
			}
			st.Subscription = o.Subscription
			e.st = &st
		case errors.Is(err, state.ErrNotExist):
		default:
			return nil, fmt.Errorf("read the Azure state: %w", err)
		}
	}
	e.srvIP = p.Config.VMPrivateIP("a")
	if ip, err := netip.ParseAddr(e.st.ServerIP); err == nil {
		e.srvIP = ip
	}
	return e, nil
}

// id is the resource's ARM id in the real subscription (plans are built before one is known).
func (e *engine) id(r *plan.Resource) string { return e.subID(r.ID) }

func (e *engine) subID(id string) string {
	const pfx = "/subscriptions/"
	if !strings.HasPrefix(strings.ToLower(id), pfx) {
		return id
	}
	rest := id[len(pfx):]
	if i := strings.Index(rest, "/"); i >= 0 {
		return pfx + e.o.Subscription + rest[i:]
	}
	return pfx + e.o.Subscription
}

func (e *engine) emit(ev Event) {
	if e.o.Progress != nil {
		e.o.Progress(ev)
	}
}

func (e *engine) save() error {
	if e.o.State == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srvIP.IsValid() {
		e.st.ServerIP = e.srvIP.String()
	}
	if err := e.o.State.Save(StateName, e.st); err != nil {
		return fmt.Errorf("save the Azure state: %w", err)
	}
	return nil
}

// isARM: dualpeer-only plan entries (certificates, local bookkeeping) have no ARM id.
func isARM(r *plan.Resource) bool {
	return !strings.HasPrefix(r.Type, "dualpeer/") && strings.HasPrefix(r.ID, "/")
}

func typeIs(r *plan.Resource, t string) bool { return strings.EqualFold(r.Type, t) }

const (
	typeRG      = "Microsoft.Resources/resourceGroups"
	typeNIC     = "Microsoft.Network/networkInterfaces"
	typeArc     = "Microsoft.Kubernetes/connectedClusters"
	typeSecret  = "Microsoft.KeyVault/vaults/secrets"
	typeRunCmd  = "Microsoft.Compute/virtualMachines/runCommands"
	typeVNet    = "Microsoft.Network/virtualNetworks"
	typeDFEndpt = "Microsoft.IoTOperations/instances/dataflowEndpoints"
)

func (e *engine) useExistingRG(r *plan.Resource) bool {
	if !typeIs(r, typeRG) {
		return false
	}
	if r.Cluster == plan.ClusterB {
		return e.cfg.UseExistingResourceGroupB
	}
	if r.Cluster == plan.ClusterA {
		return e.cfg.UseExistingResourceGroupA
	}
	return false
}

// serverNIC is the address of Cluster A's VM NIC, whose private IP is the server
// certificate's IP SAN.
func (e *engine) serverNIC() string {
	for _, r := range e.p.Resources {
		if typeIs(r, typeNIC) && r.Cluster == plan.ClusterA {
			return r.Address
		}
	}
	return ""
}

// usesServerIP: these bodies contain the server IP (certificates, scripts, the endpoint).
func usesServerIP(r *plan.Resource) bool {
	return typeIs(r, typeSecret) || typeIs(r, typeRunCmd) || typeIs(r, typeDFEndpt)
}

// deps returns the dependency graph restricted to plan addresses, with the implicit edges
// the engine needs: everything whose body holds the server IP waits for A's NIC.
func (e *engine) deps() (map[string][]string, error) {
	nic := e.serverNIC()
	out := map[string][]string{}
	for _, r := range e.p.Resources {
		var ds []string
		seen := map[string]bool{}
		for _, d := range r.DependsOn {
			if _, ok := e.byAd[d]; ok && !seen[d] {
				ds = append(ds, d)
				seen[d] = true
			}
		}
		if nic != "" && usesServerIP(r) && !seen[nic] && r.Address != nic {
			ds = append(ds, nic)
		}
		out[r.Address] = ds
	}
	if _, err := topoOrder(e.p.Resources, out); err != nil {
		return nil, err
	}
	return out, nil
}

// topoOrder orders addresses so each comes after its dependencies (plan order breaks ties).
func topoOrder(rs []*plan.Resource, deps map[string][]string) ([]string, error) {
	state := map[string]int{}
	var out []string
	var visit func(a string, path []string) error
	visit = func(a string, path []string) error {
		switch state[a] {
		case 1:
			return fmt.Errorf("the plan has a dependency cycle: %s", strings.Join(append(path, a), " → "))
		case 2:
			return nil
		}
		state[a] = 1
		for _, d := range deps[a] {
			if err := visit(d, append(path, a)); err != nil {
				return err
			}
		}
		state[a] = 2
		out = append(out, a)
		return nil
	}
	for _, r := range rs {
		if err := visit(r.Address, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// run executes fn over the graph: a node starts when all of deps[node] finished, at most
// limit at a time. After the first failure no new node starts; running ones finish.
func run(ctx context.Context, order []string, deps map[string][]string, limit int, fn func(context.Context, string) error, onDone func(string, error) error) error {
	waiting := map[string]int{}
	dependents := map[string][]string{}
	for _, a := range order {
		waiting[a] = len(deps[a])
		for _, d := range deps[a] {
			dependents[d] = append(dependents[d], a)
		}
	}
	var ready []string
	for _, a := range order {
		if waiting[a] == 0 {
			ready = append(ready, a)
		}
	}
	type result struct {
		addr string
		err  error
	}
	results := make(chan result)
	running := 0
	var errs []error
	for {
		for running < limit && len(ready) > 0 && len(errs) == 0 && ctx.Err() == nil {
			a := ready[0]
			ready = ready[1:]
			running++
			go func() { results <- result{a, fn(ctx, a)} }()
		}
		if running == 0 {
			break
		}
		res := <-results
		running--
		if err := onDone(res.addr, res.err); err != nil {
			errs = append(errs, err)
			continue
		}
		if res.err != nil {
			errs = append(errs, res.err)
			continue
		}
		for _, d := range dependents[res.addr] {
			waiting[d]--
			if waiting[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(errs) == 0 && ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w (run the same command again to resume)", ctx.Err())
	}
	return errors.Join(errs...)
}

// Apply makes Azure match the plan and returns the outputs.
func Apply(ctx context.Context, p *plan.Plan, o Options) (*Result, error) {
	e, err := newEngine(p, o)
	if err != nil {
		return nil, err
	}
	deps, err := e.deps()
	if err != nil {
		return nil, err
	}
	order, _ := topoOrder(p.Resources, deps)
	res := &Result{}
	var cmu sync.Mutex
	count := func(a Action) {
		cmu.Lock()
		defer cmu.Unlock()
		switch a {
		case ActionCreate:
			res.Created++
		case ActionUpdate:
			res.Updated++
		case ActionUnchanged, ActionRead, ActionWait:
			res.Unchanged++
		}
	}
	err = run(ctx, order, deps, e.o.Parallelism, func(ctx context.Context, addr string) error {
		r := e.byAd[addr]
		start := time.Now()
		ev := Event{Address: addr, Type: r.Type, Name: r.Name, Action: e.plannedAction(r)}
		e.emit(ev)
		act, err := e.applyOne(ctx, r)
		ev.Action, ev.Done, ev.Elapsed = act, true, time.Since(start)
		if err != nil {
			ev.Err = err
			e.emit(ev)
			return fmt.Errorf("%s (%s %s): %w", addr, r.Type, r.Name, err)
		}
		count(act)
		e.emit(ev)
		return nil
	}, func(addr string, err error) error {
		if err != nil {
			return nil
		}
		return e.save()
	})
	if err != nil {
		return nil, err
	}
	res.ServerIP = e.srvIP
	res.Outputs = Outputs(p.Config)
	return res, nil
}

func (e *engine) plannedAction(r *plan.Resource) Action {
	switch {
	case !isARM(r):
		return ActionSkip
	case e.useExistingRG(r):
		return ActionRead
	case typeIs(r, typeArc):
		return ActionWait
	}
	return ActionCreate
}

func (e *engine) record(r *plan.Resource, actual map[string]any, preexisting bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if actual != nil {
		e.actual[r.Address] = actual
	}
	rs := e.st.Resources[r.Address]
	if rs == nil {
		rs = &ResourceState{Preexisting: preexisting}
		e.st.Resources[r.Address] = rs
	}
	rs.ID, rs.Type, rs.APIVersion, rs.Done, rs.UpdatedAt = e.id(r), r.Type, r.APIVersion, true, time.Now().UTC()
}

func (e *engine) applyOne(ctx context.Context, r *plan.Resource) (Action, error) {
	if !isARM(r) {
		return ActionSkip, nil
	}
	id := e.id(r)
	switch {
	case e.useExistingRG(r):
		got, err := e.o.ARM.Get(ctx, id, r.APIVersion)
		if arm.IsNotFound(err) {
			v := "use_existing_resource_group_" + string(r.Cluster)
			return ActionRead, fmt.Errorf("resource group %s does not exist, but %s=true says to use an existing one: create it (az group create -n %s -l %s) or set %s=false", r.Name, v, r.Name, e.cfg.Location, v)
		}
		if err != nil {
			return ActionRead, err
		}
		e.record(r, got, true)
		return ActionRead, nil
	case typeIs(r, typeArc):
		got, err := e.waitFor(ctx, r, id)
		if err != nil {
			return ActionWait, err
		}
		e.record(r, got, false)
		return ActionWait, nil
	}
	desired, err := e.body(ctx, r)
	if err != nil {
		return ActionCreate, fmt.Errorf("render the request body: %w", err)
	}
	cmp := sealWriteOnly(r.Type, desired)
	actual, err := e.o.ARM.Get(ctx, id, r.APIVersion)
	action := ActionUpdate
	switch {
	case arm.IsNotFound(err):
		actual, action = nil, ActionCreate
	case err != nil:
		return ActionCreate, err
	case !isTerminalState(actual):
		// Still provisioning (an apply was interrupted mid-operation): wait for it to end
		// before comparing or writing; ARM refuses writes while it runs.
		if actual, err = e.settle(ctx, r, id); err != nil {
			return ActionUpdate, err
		}
	}
	e.mu.Lock()
	pre := actual != nil && typeIs(r, typeRG) && e.st.Resources[r.Address] == nil
	e.mu.Unlock()
	if actual != nil && satisfied(normalize(cmp), actual, "") && !failed(actual) {
		e.record(r, actual, pre)
		return ActionUnchanged, e.afterApply(ctx, r, actual)
	}
	if actual != nil {
		preserve(r.Type, desired, actual)
	}
	got, err := e.o.ARM.Put(ctx, id, r.APIVersion, desired)
	if err != nil {
		return action, err
	}
	e.record(r, got, pre)
	return action, e.afterApply(ctx, r, got)
}

func failed(actual map[string]any) bool {
	props, _ := actual["properties"].(map[string]any)
	s, _ := props["provisioningState"].(string)
	return strings.EqualFold(s, "Failed") || strings.EqualFold(s, "Canceled")
}

// preserve keeps what a PUT would otherwise wipe: a VNet's subnets and peerings are child
// resources managed separately, but a VNet PUT without them deletes them.
func preserve(rtype string, desired, actual map[string]any) {
	if !strings.EqualFold(rtype, typeVNet) {
		return
	}
	dp, _ := desired["properties"].(map[string]any)
	ap, _ := actual["properties"].(map[string]any)
	if dp == nil || ap == nil {
		return
	}
	for _, k := range []string{"subnets", "virtualNetworkPeerings"} {
		if _, set := dp[k]; !set {
			if v, ok := ap[k]; ok {
				dp[k] = v
			}
		}
	}
}

// afterApply learns from Azure what later bodies need: A's NIC address (the server IP).
func (e *engine) afterApply(ctx context.Context, r *plan.Resource, got map[string]any) error {
	if r.Address != e.serverNIC() {
		return nil
	}
	ipStr := nicPrivateIP(got)
	ip, err := netip.ParseAddr(ipStr)
	if err != nil {
		return fmt.Errorf("read the private IP Azure assigned to %s: got %q", r.Name, ipStr)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ip != e.srvIP {
		e.emit(Event{Address: r.Address, Type: r.Type, Name: r.Name, Action: ActionUpdate, Done: true,
			Note: fmt.Sprintf("Azure assigned %s (plan predicted %s): the server certificate follows it", ip, e.srvIP)})
	}
	e.srvIP = ip
	return nil
}

func nicPrivateIP(nic map[string]any) string {
	props, _ := nic["properties"].(map[string]any)
	cfgs, _ := props["ipConfigurations"].([]any)
	if len(cfgs) == 0 {
		return ""
	}
	c, _ := cfgs[0].(map[string]any)
	p, _ := c["properties"].(map[string]any)
	s, _ := p["privateIPAddress"].(string)
	return s
}

// waitFor polls a resource that something else creates (the VM's bootstrap creates the Arc
// connected cluster) until it exists and has finished provisioning.
func (e *engine) waitFor(ctx context.Context, r *plan.Resource, id string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.WaitTimeout)
	defer cancel()
	for {
		got, err := e.o.ARM.Get(ctx, id, r.APIVersion)
		switch {
		case err == nil && !failed(got) && isSucceeded(got):
			return got, nil
		case err == nil && failed(got):
			return nil, fmt.Errorf("%s is in state Failed: see the bootstrap log on the VM (/var/lib/waagent/custom-script/download/0/stderr)", r.Name)
		case err != nil && !arm.IsNotFound(err):
			return nil, err
		}
		t := time.NewTimer(e.o.WaitInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s did not appear within %v: the VM bootstrap (K3s install and `az connectedk8s connect`) has not finished; check the VM's CustomScript extension status, then run apply again", r.Name, e.o.WaitTimeout)
			}
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func isTerminalState(got map[string]any) bool {
	props, _ := got["properties"].(map[string]any)
	s, _ := props["provisioningState"].(string)
	switch strings.ToLower(s) {
	case "", "succeeded", "failed", "canceled", "cancelled":
		return true
	}
	return false
}

// settle polls a resource until its provisioningState is terminal, bounded by WaitTimeout.
func (e *engine) settle(ctx context.Context, r *plan.Resource, id string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.WaitTimeout)
	defer cancel()
	for {
		got, err := e.o.ARM.Get(ctx, id, r.APIVersion)
		if err != nil {
			return nil, err
		}
		if isTerminalState(got) {
			return got, nil
		}
		t := time.NewTimer(e.o.WaitInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s is still provisioning: %w; run apply again later", r.Name, ctx.Err())
		case <-t.C:
		}
	}
}

func isSucceeded(got map[string]any) bool {
	props, _ := got["properties"].(map[string]any)
	s, _ := props["provisioningState"].(string)
	return s == "" || strings.EqualFold(s, "Succeeded")
}

// noDeleteTypes are removed with their parent; ARM has no DELETE for them.
var noDeleteTypes = map[string]string{
	strings.ToLower(typeSecret): "removed with its Key Vault",
}

// Destroy deletes the plan's resources in reverse dependency order. A resource already gone
// counts as deleted; a resource group dualpeer did not create is never deleted.
func Destroy(ctx context.Context, p *plan.Plan, o Options) error {
	e, err := newEngine(p, o)
	if err != nil {
		return err
	}
	deps, err := e.deps()
	if err != nil {
		return err
	}
	order, _ := topoOrder(p.Resources, deps)
	// Reverse the edges: a resource is deleted only after everything that depends on it.
	rdeps := map[string][]string{}
	for a, ds := range deps {
		for _, d := range ds {
			rdeps[d] = append(rdeps[d], a)
		}
	}
	for a := range rdeps {
		sort.Strings(rdeps[a])
	}
	rev := make([]string, len(order))
	for i, a := range order {
		rev[len(order)-1-i] = a
	}
	return run(ctx, rev, rdeps, e.o.Parallelism, func(ctx context.Context, addr string) error {
		r := e.byAd[addr]
		start := time.Now()
		ev := Event{Address: addr, Type: r.Type, Name: r.Name, Action: ActionDelete}
		note, skip := e.keep(r)
		if skip {
			ev.Action, ev.Done, ev.Note = ActionSkip, true, note
			e.emit(ev)
			return nil
		}
		e.emit(ev)
		err := e.o.ARM.Delete(ctx, e.id(r), r.APIVersion)
		ev.Done, ev.Elapsed, ev.Err = true, time.Since(start), err
		e.emit(ev)
		if err != nil {
			return fmt.Errorf("%s (%s %s): %w", addr, r.Type, r.Name, err)
		}
		return nil
	}, func(addr string, err error) error {
		if err != nil {
			return nil
		}
		e.mu.Lock()
		delete(e.st.Resources, addr)
		e.mu.Unlock()
		return e.save()
	})
}

// keep says whether destroy leaves a resource alone, and why.
func (e *engine) keep(r *plan.Resource) (string, bool) {
	if !isARM(r) {
		return "not an Azure resource", true
	}
	if e.useExistingRG(r) {
		return "resource group existed before dualpeer (use_existing_resource_group_" + string(r.Cluster) + "=true): kept", true
	}
	e.mu.Lock()
	rs := e.st.Resources[r.Address]
	pre := rs != nil && rs.Preexisting
	e.mu.Unlock()
	if pre && typeIs(r, typeRG) {
		return "resource group existed before dualpeer first applied: kept", true
	}
	if why, ok := noDeleteTypes[strings.ToLower(r.Type)]; ok {
		return why, true
	}
	return "", false
}
