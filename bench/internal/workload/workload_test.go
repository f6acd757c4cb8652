package workload

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/bench/mosquitto"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// TestRunInLab drives the Mosquitto reference through a real two-namespace lab built with
// netlab (not `dualpeer up`, so it does not depend on the local target), with the load
// generator running as the benchmark binary inside the namespaces, as the benchmark does.
func TestRunInLab(t *testing.T) {
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skipf("skipping: builds network namespaces and needs root; run `sudo go test ./bench/...` (%v)", err)
	}
	if _, err := mosquitto.Version(context.Background()); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()

	exe := filepath.Join(dir, "bench")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", exe, "github.com/dualpeer/dualpeer/bench").CombinedOutput(); err != nil {
		t.Fatalf("build the benchmark binary: %v\n%s", err, out)
	}

	id, err := netlab.NewID()
	if err != nil {
		t.Fatal(err)
	}
	top := netlab.Topology{ID: id,
		A:       netlab.Cluster{Key: "a", AddressSpace: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix("10.1.1.0/24"), VMAddr: netip.MustParseAddr("10.1.1.4")},
		B:       netlab.Cluster{Key: "b", AddressSpace: netip.MustParsePrefix("10.2.0.0/16"), Subnet: netip.MustParsePrefix("10.2.1.0/24"), VMAddr: netip.MustParseAddr("10.2.1.4")},
		Peering: netlab.Peering{AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
	}
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := netlab.DestroyByID(cctx, id); err != nil {
			t.Errorf("remove lab %s: %v", id, err)
		}
	})
	if err := netlab.Apply(ctx, top); err != nil {
		t.Fatal(err)
	}
	names := top.Names()

	m, err := pki.Generate(ctx, pki.Options{ServerIP: top.A.VMAddr})
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := m.WriteDir(ctx, certs); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	aLog, bLog := filepath.Join(dir, "a", "log"), filepath.Join(dir, "b", "log")
	aConf, err := mosquitto.RenderServer(mosquitto.ServerConfig{Addr: "10.1.1.4", Port: 38883, ClientCAFile: f(pki.FileClientRootCert),
		CertFile: f(pki.FileServerLeafCert), KeyFile: f(pki.FileServerLeafKey), DataDir: filepath.Join(dir, "a"), LogFile: aLog, MaxQueued: 100000})
	if err != nil {
		t.Fatal(err)
	}
	bConf, err := mosquitto.RenderBridge(mosquitto.BridgeConfig{LocalPort: 11883, BridgeName: "bridge", RemoteAddr: "10.1.1.4", RemotePort: 38883,
		ServerCAFile: f(pki.FileServerRootCert), ClientCertFile: f(pki.FileClientLeafCert), ClientKeyFile: f(pki.FileClientLeafKey),
		LocalTopic: "input", RemoteTopic: "output", DataDir: filepath.Join(dir, "b"), LogFile: bLog, MaxQueued: 100000})
	if err != nil {
		t.Fatal(err)
	}
	a, err := mosquitto.Start(ctx, netlab.Command, names.A.VMNS, "a", dir, aConf, aLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	b, err := mosquitto.Start(ctx, netlab.Command, names.B.VMNS, "b", dir, bConf, bLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })

	sys := System{Name: "mosquitto", PubNS: names.B.VMNS, PubAddr: "127.0.0.1:11883", SubNS: names.A.VMNS, SubAddr: "10.1.1.4:38883",
		CA: f(pki.FileServerRootCert), Cert: f(pki.FileClientLeafCert), Key: f(pki.FileClientLeafKey), Server: "10.1.1.4",
		InTopic: "input", OutTopic: "output", PidsA: []int{a.Pid()}, PidsB: []int{b.Pid()}}
	// The bridge connects asynchronously: wait until a first message made it, as the benchmark does.
	for i := 0; ; i++ {
		r, err := Run(ctx, netlab.Command, exe, sys, Spec{Name: "probe", QoS: 1, Size: 64, N: 1, Timeout: 5 * time.Second, Idle: time.Second}, rand.Uint64())
		if err == nil && r.Sub.Unique == 1 {
			break
		}
		if i == 20 {
			t.Fatalf("no message through the bridge after 20 probes: %v\nA: %s\nB: %s", err, a.LogTail(5), b.LogTail(5))
		}
	}
	const n = 3000
	tests := map[string]Spec{
		"qos1 max rate":  {QoS: 1, Size: 64, N: n, Timeout: 20 * time.Second, Idle: 2 * time.Second},
		"qos0 1KB paced": {QoS: 0, Size: 1024, N: n, Rate: 1000, Timeout: 20 * time.Second, Idle: 2 * time.Second},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			spec.Name = name
			r, err := Run(ctx, netlab.Command, exe, sys, spec, rand.Uint64())
			if err != nil {
				t.Fatalf("%v\nA: %s\nB: %s", err, a.LogTail(5), b.LogTail(5))
			}
			if r.Pub.Sent != n || r.Sub.Unique != n || r.Sub.Lost != 0 {
				t.Errorf("published %d, subscriber %+v: want all %d through the bridge", r.Pub.Sent, r.Sub, n)
			}
			if r.Sub.Throughput <= 0 || r.Sub.Latency.Count != n || r.PeakA <= 0 || r.PeakB <= 0 {
				t.Errorf("missing measurements: %+v", r)
			}
			t.Logf("%.0f msg/s, latency µs %+v, CPU A %s B %s", r.Sub.Throughput, r.Sub.Latency, r.CPUA, r.CPUB)
		})
	}

	// Interleaved: two publishers take turns in 200 ms windows (here both through the same
	// brokers, so each subscriber also sees the other's run as stale messages).
	t.Run("interleaved", func(t *testing.T) {
		const n, window = 600, 200 * time.Millisecond
		spec := Spec{Name: "interleaved", QoS: 1, Size: 64, N: n, Rate: 1000, Timeout: 20 * time.Second, Idle: 2 * time.Second}
		rs, err := RunInterleaved(ctx, netlab.Command, exe, []System{sys, sys}, spec, window, rand.Uint64())
		if err != nil {
			t.Fatalf("%v\nA: %s\nB: %s", err, a.LogTail(5), b.LogTail(5))
		}
		for i, r := range rs {
			if r.Pub.Sent != n || r.Sub.Unique != n || r.Sub.Lost != 0 || r.Sub.Latency.Count != n {
				t.Errorf("system %d: published %d, subscriber %+v: want all %d", i, r.Pub.Sent, r.Sub, n)
			}
		}
		// One schedule for both; the second publisher's last message is due in its third
		// window, 5 windows + 199 messages after the start.
		if rs[0].Pub.StartNS != rs[1].Pub.StartNS {
			t.Errorf("publishers started their schedules at %d and %d: want one common start", rs[0].Pub.StartNS, rs[1].Pub.StartNS)
		}
		if d := time.Duration(rs[1].Pub.EndNS - rs[1].Pub.StartNS); d < 5*window+199*time.Millisecond {
			t.Errorf("second publisher finished %s after the start: it did not wait for its windows", d)
		}
		if _, err := RunInterleaved(ctx, netlab.Command, exe, []System{sys, sys}, Spec{N: 1, Rate: 1000}, 0, 1); err == nil {
			t.Error("two systems without a window: want an error")
		}
	})
}
