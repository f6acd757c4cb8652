package azure_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/dualpeer/dualpeer/internal/arm"
	"github.com/dualpeer/dualpeer/internal/armfake"
	"github.com/dualpeer/dualpeer/internal/armschema"
	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/pki"
	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/provider/azure"
	"github.com/dualpeer/dualpeer/internal/state"
)

const testSub = "11111111-2222-3333-4444-555555555555"

var (
	schemaOnce sync.Once
	schemas    *armschema.Set
	schemaErr  error
)

func loadSchemas(t *testing.T) *armschema.Set {
	t.Helper()
	schemaOnce.Do(func() {
		schemas, schemaErr = armschema.Load(filepath.Join("..", "..", "..", "..", "shared", "reference", "arm-specs"))
		if schemaErr != nil {
			schemas, schemaErr = armschema.Load("/work/shared/reference/arm-specs")
		}
	})
	if schemaErr != nil {
		t.Fatalf("load the ARM specs: %v", schemaErr)
	}
	return schemas
}

func testConfig() *blueprint.Config {
	c := blueprint.QuickStart()
	c.Location = "eastus2"
	return c
}

type rig struct {
	t     *testing.T
	cfg   *blueprint.Config
	plan  *plan.Plan
	fake  *armfake.Server
	opts  azure.Options
	store *state.Store

	mu     sync.Mutex
	events []azure.Event
}

func newRig(t *testing.T, cfg *blueprint.Config, fo armfake.Options) *rig {
	t.Helper()
	p, err := plan.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	set := loadSchemas(t)
	if fo.Polls == 0 {
		fo.Polls = 2
	}
	if fo.Latency == 0 {
		fo.Latency = 2 * time.Millisecond
	}
	fo.Validate = func(rt, v string, body map[string]any) []error {
		if !set.Has(rt, v) {
			return nil
		}
		return set.ValidateBody(rt, v, body)
	}
	// The VM's bootstrap creates the Arc connected cluster: play that part when the
	// CustomScript extension finishes.
	fo.OnSucceeded = func(s *armfake.Server, id string, body map[string]any) {
		if !strings.HasSuffix(id, "/extensions/linux-cluster-server-setup") {
			return
		}
		for _, c := range []string{"a", "b"} {
			n := cfg.Names(c)
			if strings.Contains(id, "/resourceGroups/"+n.ResourceGroup+"/") {
				s.Seed(blueprint.ConnectedClusterID(testSub, n.ResourceGroup, n.ArcCluster), map[string]any{
					"location": cfg.Location, "identity": map[string]any{"type": "SystemAssigned"},
					"properties": map[string]any{"oidcIssuerProfile": map[string]any{"issuerUrl": "https://oidc.example/" + c}}})
			}
		}
	}
	fake := armfake.New(fo)
	t.Cleanup(fake.Close)
	client, err := arm.New(arm.Options{Credential: armfake.Credential{}, Endpoint: fake.URL, InsecureAllowHTTP: true, DisableRPRegistration: true,
		Retry: policy.RetryOptions{MaxRetries: 3, RetryDelay: time.Millisecond, MaxRetryDelay: 3 * time.Second}, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, plan: p, fake: fake, store: store}
	r.opts = azure.Options{
		ARM: client, Subscription: testSub, Principal: arm.Principal{ObjectID: armfake.UserObjectID, TenantID: armfake.TenantID},
		State: store, Parallelism: 8,
		Certificates: &azure.PKICertificates{Dir: filepath.Join(dir, "certs"), Mode: pki.ModeStep},
		Scripts:      azure.SetupScripts{},
		SSHPublicKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 dualpeer-test",
		WaitInterval: 2 * time.Millisecond, WaitTimeout: 10 * time.Second,
		Progress: func(ev azure.Event) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		},
	}
	return r
}

func (r *rig) armResources() []*plan.Resource {
	var out []*plan.Resource
	for _, x := range r.plan.Resources {
		if !strings.HasPrefix(x.Type, "dualpeer/") {
			out = append(out, x)
		}
	}
	return out
}

func realID(id string) string {
	return strings.Replace(id, "/subscriptions/"+blueprint.SubscriptionPlaceholder, "/subscriptions/"+testSub, 1)
}

func TestApplyReapplyDestroy(t *testing.T) {
	r := newRig(t, testConfig(), armfake.Options{})
	ctx := context.Background()
	res, err := azure.Apply(ctx, r.plan, r.opts)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.fake.ValidationErrors(); len(v) > 0 {
		t.Fatalf("bodies rejected by the ARM schemas:\n%s", strings.Join(v, "\n"))
	}
	puts := map[string]armfake.Request{}
	for _, w := range r.fake.Writes() {
		if w.Method == http.MethodPut && w.Status < 300 {
			puts[strings.ToLower(w.Path)] = w
		}
	}
	var validated int
	set := loadSchemas(t)
	for _, x := range r.armResources() {
		id := realID(x.ID)
		if r.fake.Resource(id) == nil {
			t.Errorf("%s (%s) missing after apply", x.Address, id)
			continue
		}
		if set.Has(x.Type, x.APIVersion) {
			validated++
		}
		// Dependencies respected: no PUT before every dependency's operation completed.
		put, ok := puts[strings.ToLower(id)]
		if !ok {
			continue
		}
		for _, d := range x.DependsOn {
			dr := r.plan.Get(d)
			if dr == nil || strings.HasPrefix(dr.Type, "dualpeer/") {
				continue
			}
			if done := r.fake.DoneAt(realID(dr.ID)); done.IsZero() || done.After(put.Start) {
				t.Errorf("%s was PUT at %v before its dependency %s completed (%v)", x.Address, put.Start, d, done)
			}
		}
	}
	if validated < 15 {
		t.Errorf("only %d resources of types the specs cover; expected the network, run command and IoT Operations ones", validated)
	}
	if m := r.fake.MaxConcurrentPuts(); m < 2 || m > 8 {
		t.Errorf("concurrent PUTs peaked at %d; want parallelism between 2 and the limit 8", m)
	}
	if res.Created == 0 || res.ServerIP.String() != "10.1.1.4" {
		t.Errorf("result %+v", res)
	}

	// Re-apply: nothing to write.
	r.fake.ResetLog()
	res2, err := azure.Apply(ctx, r.plan, r.opts)
	if err != nil {
		t.Fatal(err)
	}
	if w := r.fake.Writes(); len(w) != 0 {
		var s []string
		for _, x := range w {
			s = append(s, x.Method+" "+x.Path)
		}
		t.Fatalf("re-apply wrote %d times:\n%s", len(w), strings.Join(s, "\n"))
	}
	if res2.Created != 0 || res2.Updated != 0 {
		t.Errorf("re-apply result %+v", res2)
	}

	// Destroy: reverse order, everything gone.
	r.fake.ResetLog()
	if err := azure.Destroy(ctx, r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	if ids := r.fake.IDs(); len(ids) != 0 {
		t.Errorf("left after destroy: %v", ids)
	}
	checkReverse(t, r)
}

func checkReverse(t *testing.T, r *rig) {
	t.Helper()
	del := map[string]armfake.Request{}
	for _, w := range r.fake.Writes() {
		if w.Method == http.MethodDelete {
			del[strings.ToLower(w.Path)] = w
		}
	}
	for _, x := range r.armResources() {
		dx, ok := del[strings.ToLower(realID(x.ID))]
		if !ok {
			continue
		}
		for _, d := range x.DependsOn {
			dr := r.plan.Get(d)
			if dr == nil {
				continue
			}
			if dd, ok := del[strings.ToLower(realID(dr.ID))]; ok && dd.Start.Before(dx.Start) {
				t.Errorf("destroy deleted %s before %s, which depends on it", d, x.Address)
			}
		}
	}
}

func TestExistingResourceGroupKept(t *testing.T) {
	cfg := testConfig()
	cfg.UseExistingResourceGroupA = true
	r := newRig(t, cfg, armfake.Options{})
	rgA := blueprint.ResourceGroupID(testSub, cfg.Names("a").ResourceGroup)
	ctx := context.Background()
	if _, err := azure.Apply(ctx, r.plan, r.opts); err == nil || !strings.Contains(err.Error(), "use_existing_resource_group_a") {
		t.Fatalf("apply with a missing existing group: want an error naming use_existing_resource_group_a, got %v", err)
	}
	r.fake.Seed(rgA, map[string]any{"location": "eastus2", "tags": map[string]any{"owner": "someone else"}})
	if _, err := azure.Apply(ctx, r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	if err := azure.Destroy(ctx, r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	if r.fake.Resource(rgA) == nil {
		t.Fatal("destroy deleted the resource group dualpeer did not create")
	}
	for _, w := range r.fake.Writes() {
		if strings.EqualFold(w.Path, rgA) {
			t.Errorf("%s on the existing resource group", w.Method)
		}
	}
	if ids := r.fake.IDs(); len(ids) != 1 {
		t.Errorf("want only the existing group left, got %v", ids)
	}
}

func TestInterruptedApplyResumes(t *testing.T) {
	r := newRig(t, testConfig(), armfake.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	var mu sync.Mutex
	prev := r.opts.Progress
	r.opts.Progress = func(ev azure.Event) {
		prev(ev)
		mu.Lock()
		defer mu.Unlock()
		if ev.Done && ev.Err == nil {
			n++
			if n == 25 {
				cancel()
			}
		}
	}
	_, err := azure.Apply(ctx, r.plan, r.opts)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted apply: want context.Canceled, got %v", err)
	}
	var st azure.State
	if err := r.store.Load(azure.StateName, &st); err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, rs := range st.Resources {
		if rs.Done {
			done[strings.ToLower(rs.ID)] = true
		}
	}
	if len(done) < 20 || len(done) >= len(r.armResources()) {
		t.Fatalf("after the interruption %d resources are recorded done (of %d)", len(done), len(r.armResources()))
	}
	r.fake.ResetLog()
	r.opts.Progress = prev
	if _, err := azure.Apply(context.Background(), r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	for _, w := range r.fake.Writes() {
		if done[strings.ToLower(w.Path)] {
			t.Errorf("resume re-PUT %s, recorded done", w.Path)
		}
	}
	for _, x := range r.armResources() {
		if r.fake.Resource(realID(x.ID)) == nil {
			t.Errorf("%s missing after resume", x.Address)
		}
	}
}

func TestFailingOperationReported(t *testing.T) {
	r := newRig(t, testConfig(), armfake.Options{})
	vm := r.cfg.Names("b").VM
	r.fake.FailOperation("/virtualMachines/"+vm, "SkuNotAvailable", "The requested VM size Standard_D8s_v6 is currently not available in location 'eastus2'.")
	_, err := azure.Apply(context.Background(), r.plan, r.opts)
	var oe *arm.OperationError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "SkuNotAvailable: The requested VM size Standard_D8s_v6 is currently not available") {
		t.Fatalf("want ARM's code and message, got %v", err)
	}
	if !strings.Contains(err.Error(), "cluster_b.cloud_vm_host.virtual_machine") {
		t.Errorf("the error should name the resource's address: %v", err)
	}
}

func TestThrottledApplyRetried(t *testing.T) {
	r := newRig(t, testConfig(), armfake.Options{})
	vnet := r.cfg.Names("a").VNet
	r.fake.Inject(armfake.Fault{Method: http.MethodPut, Suffix: "/virtualNetworks/" + vnet, Status: 429, Code: "RetryableError", Message: "throttled", RetryAfter: "1"})
	if _, err := azure.Apply(context.Background(), r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	var got []armfake.Request
	for _, w := range r.fake.Writes() {
		if strings.HasSuffix(w.Path, "/virtualNetworks/"+vnet) {
			got = append(got, w)
		}
	}
	if len(got) != 2 || got[0].Status != 429 || got[1].Start.Sub(got[0].End) < 900*time.Millisecond {
		t.Fatalf("want a 429 then a PUT ≥1s later, got %+v", got)
	}
}

func TestServerCertificateFollowsAssignedIP(t *testing.T) {
	cfg := testConfig()
	nicA := cfg.Names("a").NIC
	r := newRig(t, cfg, armfake.Options{PrivateIP: func(id string) string {
		if strings.HasSuffix(id, "/"+nicA) {
			return "10.1.1.10"
		}
		return ""
	}})
	res, err := azure.Apply(context.Background(), r.plan, r.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.ServerIP.String() != "10.1.1.10" {
		t.Fatalf("server IP %v, want the assigned 10.1.1.10", res.ServerIP)
	}
	for _, c := range []string{"a", "b"} {
		n := cfg.Names(c)
		wo := r.fake.WriteOnly(blueprint.ResourceID(testSub, n.ResourceGroup, "Microsoft.KeyVault/vaults/secrets", n.KeyVault, "server-leaf-ca-crt"))
		val, _ := wo["value"].(string)
		blk, _ := pem.Decode([]byte(val))
		if blk == nil {
			t.Fatalf("cluster %s: no server leaf in Key Vault", c)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if len(cert.IPAddresses) == 0 || cert.IPAddresses[0].String() != "10.1.1.10" {
			t.Errorf("cluster %s: server leaf IP SANs %v, want 10.1.1.10", c, cert.IPAddresses)
		}
	}
	nB := cfg.Names("b")
	ep := r.fake.Resource(blueprint.ResourceID(testSub, nB.ResourceGroup, "Microsoft.IoTOperations/instances/dataflowEndpoints", nB.AIOInstance, "mqtt-cert-auth"))
	b, _ := json.Marshal(ep)
	if !strings.Contains(string(b), `"10.1.1.10:28883"`) {
		t.Errorf("B's endpoint does not dial the assigned address: %s", b)
	}
	var sawNote bool
	for _, ev := range r.events {
		if strings.Contains(ev.Note, "10.1.1.10") {
			sawNote = true
		}
	}
	if !sawNote {
		t.Error("no progress note about the reassigned address")
	}
}

func TestSecretsNeverInReadableFields(t *testing.T) {
	r := newRig(t, testConfig(), armfake.Options{})
	if _, err := azure.Apply(context.Background(), r.plan, r.opts); err != nil {
		t.Fatal(err)
	}
	for _, id := range r.fake.IDs() {
		b, _ := json.Marshal(r.fake.Resource(id))
		if strings.Contains(string(b), "PRIVATE KEY") {
			t.Errorf("%s shows key material in what GET returns", id)
		}
	}
	raw, err := json.Marshal(r.events)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "PRIVATE KEY") {
		t.Error("progress events carry key material")
	}
}

func TestOutputs(t *testing.T) {
	cfg := testConfig()
	out := azure.Outputs(cfg)
	nA := cfg.Names("a")
	want := map[string]string{
		"cluster_a_resource_group":            nA.ResourceGroup,
		"cluster_a_azure_arc_proxy_command":   fmt.Sprintf("az connectedk8s proxy -n %s -g %s", nA.ArcCluster, nA.ResourceGroup),
		"vnet_peering_cluster_a_to_cluster_b": "peer-cluster-a-to-cluster-b",
		"vnet_peering_cluster_b_to_cluster_a": "peer-cluster-b-to-cluster-a",
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %q, want %q", k, out[k], v)
		}
	}
	for _, k := range []string{"cluster_b_virtual_network", "cluster_b_arc_connected_cluster", "cluster_b_aio_instance"} {
		if out[k] == "" {
			t.Errorf("%s missing", k)
		}
	}
}
