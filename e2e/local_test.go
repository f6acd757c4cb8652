package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/live"
	"github.com/dualpeer/dualpeer/internal/provider/local"
	"github.com/dualpeer/dualpeer/internal/sysmon"
)

type outputs map[string]struct {
	Value any `json:"value"`
}

func (d *deployment) outputs() outputs {
	d.t.Helper()
	r := d.mustRun("output", "-json")
	var o outputs
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		d.t.Fatalf("output -json: %v\n%s", err, r.stdout)
	}
	return o
}

func (o outputs) str(t *testing.T, name string) string {
	v, ok := o[name]
	if !ok {
		t.Fatalf("output %s missing", name)
	}
	s, _ := v.Value.(string)
	return s
}

func (o outputs) files(t *testing.T) map[string]string {
	v, ok := o["client_certificate_files"].Value.(map[string]any)
	if !ok {
		t.Fatalf("output client_certificate_files missing")
	}
	m := map[string]string{}
	for k, x := range v {
		m[k], _ = x.(string)
	}
	return m
}

// deploymentNamespaces lists the dp- namespaces of this deployment (its id is in the VM
// namespace name), so parallel tests of other packages don't interfere.
func deploymentNamespaces(t *testing.T, vmNS string) []string {
	id := strings.TrimSuffix(vmNS, "-a-vm")
	var mine []string
	for _, ns := range dpNamespaces(t) {
		if strings.HasPrefix(ns, id+"-") {
			mine = append(mine, ns)
		}
	}
	return mine
}

// TestQuickStartUpMQTTDown is the README's main job: up with no configuration, then the
// spec's manual check with the real mosquitto clients inside the lab, then down.
func TestQuickStartUpMQTTDown(t *testing.T) {
	d := newDeployment(t)
	up := d.mustRun("up")
	if !strings.Contains(up.stdout, "Connectivity test") || strings.Contains(up.stdout, "✗") {
		t.Fatalf("up did not report a passing connectivity test:\n%s", up.all())
	}
	o := d.outputs()
	f := o.files(t)
	aIP := o.str(t, "cluster_a_vm_private_ip")
	if aIP != "10.1.1.4" {
		t.Errorf("cluster_a_vm_private_ip = %q, want 10.1.1.4", aIP)
	}
	for _, k := range []string{"server_root_ca", "client_cert", "client_key"} {
		if _, err := os.Stat(f[k]); err != nil {
			t.Fatalf("output file %s: %v", k, err)
		}
	}
	if fi, _ := os.Stat(f["client_key"]); fi.Mode().Perm() != 0o600 {
		t.Errorf("client key mode %v, want 0600", fi.Mode().Perm())
	}
	// The agents run with the runtime setting internal/sysmon gives them (set by up, so
	// they need not re-execute themselves).
	for _, c := range []string{"a", "b"} {
		pid, err := os.ReadFile(filepath.Join(d.state, "clusters", c, "agent.pid"))
		if err != nil {
			t.Fatal(err)
		}
		env, err := os.ReadFile(filepath.Join("/proc", strings.TrimSpace(string(pid)), "environ"))
		if err != nil {
			t.Fatal(err)
		}
		if _, missing := sysmon.Env(strings.Split(string(env), "\x00")); missing {
			t.Errorf("Cluster %s's agent runs without GODEBUG %s", c, sysmon.Setting)
		}
	}

	// mosquitto_sub on A (X.509 listener, client certificate), mosquitto_pub on B (anonymous
	// local listener): the message must cross the dataflow and the peering.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, binary(t), "--state-dir", d.state, "exec", "a", "--",
		"mosquitto_sub", "-h", aIP, "-p", "28883", "--cafile", f["server_root_ca"], "--cert", f["client_cert"], "--key", f["client_key"],
		"-t", "output", "-q", "1", "-C", "1", "-W", "20", "-i", "e2e-sub")
	var subOut strings.Builder
	sub.Stdout, sub.Stderr = &subOut, &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	payload := "hello-from-b-" + time.Now().Format("150405.000")
	// Publish until the subscriber has its subscription in place (bounded: 20 tries).
	deadline := time.Now().Add(20 * time.Second)
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	var werr error
loop:
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		d.mustRun("exec", "b", "--", "mosquitto_pub", "-h", "127.0.0.1", "-p", "18884", "-q", "1", "-t", "input", "-m", payload)
		select {
		case werr = <-done:
			break loop
		case <-time.After(500 * time.Millisecond):
		}
	}
	if werr != nil || !strings.Contains(subOut.String(), payload) {
		t.Fatalf("mosquitto_sub on A did not receive %q (err %v): %s", payload, werr, subOut.String())
	}

	st := d.mustRun("status")
	for _, want := range []string{"Agent A: ready", "Agent B: ready", "allow_virtual_network_access=true"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
	d.mustRun("test")
	checkLiveSnapshot(t, d.state)

	// up again changes nothing and still passes.
	if again := d.mustRun("up"); !strings.Contains(again.stdout, "nothing changed") {
		t.Errorf("second up changed something:\n%s", again.all())
	}

	vmNS := o.str(t, "cluster_a_vm_namespace")
	d.mustRun("down")
	if left := deploymentNamespaces(t, vmNS); len(left) > 0 {
		t.Errorf("namespaces left after down: %v", left)
	}
}

// TestPeeringBlocksWhenAccessDisabled: with the peering's virtual network access off, ping and
// MQTT across fail and the test says the peering blocks them.
func TestPeeringBlocksWhenAccessDisabled(t *testing.T) {
	d := newDeployment(t)
	r := d.run(context.Background(), "up", "-var", "vnet_peering_allow_virtual_network_access=false")
	if r.code == 0 {
		t.Fatalf("up succeeded although the peering blocks traffic:\n%s", r.all())
	}
	for _, want := range []string{"✗ ping B", "✗ ping A", "the peering blocks it"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r.all())
		}
	}
	tr := d.run(context.Background(), "test")
	if tr.code != 3 || !strings.Contains(tr.stdout+tr.stderr, "vnet_peering_allow_virtual_network_access = false") {
		t.Errorf("test: exit %d, want 3 with a diagnosis naming the peering setting:\n%s", tr.code, tr.all())
	}
}

// TestSpecCustomCIDRs: the spec's example address plan works and the server certificate
// carries 192.168.1.4.
func TestSpecCustomCIDRs(t *testing.T) {
	d := newDeployment(t)
	d.mustRun("up",
		"-var", `cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}`,
		"-var", `cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}`,
		"-var", "use_terraform_certificates=true")
	o := d.outputs()
	if ip := o.str(t, "cluster_a_vm_private_ip"); ip != "192.168.1.4" {
		t.Fatalf("A's VM IP %s, want 192.168.1.4", ip)
	}
	out, err := exec.Command("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", d.state+"/certs/server-leaf-ca.crt").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "192.168.1.4") {
		// The file name is pki's; fall back to the synced secret on Cluster A.
		out, err = exec.Command("openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", d.state+"/clusters/a/secrets/broker-tls-cert/tls.crt").CombinedOutput()
	}
	if err != nil || !strings.Contains(string(out), "IP Address:192.168.1.4") {
		t.Fatalf("server certificate SAN lacks 192.168.1.4: %v\n%s", err, out)
	}
}

// checkLiveSnapshot reads the running deployment the way the dashboard does.
func checkLiveSnapshot(t *testing.T, stateDir string) {
	t.Helper()
	p, err := local.New(local.Options{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := live.Source{Provider: p}.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("dashboard snapshot: %v", err)
	}
	healthy := 0
	for _, a := range snap.Agents {
		if a.Healthy {
			healthy++
		}
	}
	if healthy != 2 {
		t.Errorf("dashboard: %d healthy agents, want 2: %+v", healthy, snap.Agents)
	}
	if len(snap.Dataflows) != 1 || snap.Dataflows[0].MessagesOut == 0 || !snap.Dataflows[0].Connected {
		t.Errorf("dashboard: dataflow row %+v, want one connected dataflow that has delivered messages", snap.Dataflows)
	}
	leaf := false
	for _, c := range snap.Certificates {
		if strings.HasPrefix(c.Name, "server leaf") && c.NotAfter.After(time.Now()) {
			leaf = true
		}
	}
	if !leaf {
		t.Errorf("dashboard: no valid server leaf among %+v", snap.Certificates)
	}
	for _, pr := range snap.Peerings {
		if pr.State != "Connected" || !pr.AllowVirtualNetworkAccess {
			t.Errorf("dashboard: peering %+v", pr)
		}
	}
	if snap.Topology == nil || !snap.Topology.Live {
		t.Error("dashboard: topology without live state")
	}
}

// TestRotatedClientLeafRefused: `certs rotate` on the deployment's certificates, then `up`:
// Cluster A refuses the replaced client leaf (revocation list in its client CA config map) and
// the link keeps working with the new one.
func TestRotatedClientLeafRefused(t *testing.T) {
	d := newDeployment(t)
	d.mustRun("up", "-q")
	f := d.outputs().files(t)
	oldDir := t.TempDir()
	for _, k := range []string{"client_cert", "client_key"} {
		b, err := os.ReadFile(f[k])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(oldDir+"/"+k, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pub := func(cert, key string) result {
		return d.run(context.Background(), "exec", "a", "--", "mosquitto_pub", "-h", "10.1.1.4", "-p", "28883",
			"--cafile", f["server_root_ca"], "--cert", cert, "--key", key, "-q", "1", "-t", "rotation", "-m", "x")
	}
	if r := pub(oldDir+"/client_cert", oldDir+"/client_key"); r.code != 0 {
		t.Fatalf("the original client leaf is refused before rotation:\n%s", r.all())
	}
	d.mustRun("certs", "rotate")
	d.mustRun("up", "-q")
	if r := pub(oldDir+"/client_cert", oldDir+"/client_key"); r.code == 0 {
		t.Fatalf("Cluster A still accepts the client leaf replaced by certs rotate")
	}
	if r := pub(f["client_cert"], f["client_key"]); r.code != 0 {
		t.Fatalf("the new client leaf is refused:\n%s", r.all())
	}
	d.mustRun("test")
}
