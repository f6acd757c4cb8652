package standin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/lab"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// Lab is one stand-in deployment: the namespaces, the certificates and the two processes.
type Lab struct {
	Exe  string // the benchmark binary, run as `standin` in the namespaces
	Dir  string // certificates and data directories
	top  netlab.Topology
	a, b *exec.Cmd
	exit map[*exec.Cmd]chan struct{}
}

// Topology is the quick-start layout: A 10.1.0.0/16 (VM 10.1.1.4), B 10.2.0.0/16 (VM 10.2.1.4),
// peering allowing virtual network access and forwarded traffic.
func Topology(id string) netlab.Topology {
	return netlab.Topology{ID: id,
		A:       netlab.Cluster{Key: "a", AddressSpace: netip.MustParsePrefix("10.1.0.0/16"), Subnet: netip.MustParsePrefix("10.1.1.0/24"), VMAddr: netip.MustParseAddr("10.1.1.4")},
		B:       netlab.Cluster{Key: "b", AddressSpace: netip.MustParsePrefix("10.2.0.0/16"), Subnet: netip.MustParsePrefix("10.2.1.0/24"), VMAddr: netip.MustParseAddr("10.2.1.4")},
		Peering: netlab.Peering{AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
	}
}

// Up builds the lab, generates step-profile certificates and starts both stand-ins.
func (l *Lab) Up(ctx context.Context) (lab.Outputs, lab.ServerFiles, error) {
	id, err := netlab.NewID()
	if err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	l.top = Topology(id)
	l.exit = map[*exec.Cmd]chan struct{}{}
	if err := netlab.Apply(ctx, l.top); err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	certs := filepath.Join(l.Dir, "certs")
	m, err := pki.Generate(ctx, pki.Options{ServerIP: l.top.A.VMAddr})
	if err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	if err := m.WriteDir(ctx, certs); err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	n := l.top.Names()
	if l.a, err = l.start(ctx, n.A.VMNS, "a", certs); err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	if l.b, err = l.start(ctx, n.B.VMNS, "b", certs); err != nil {
		return lab.Outputs{}, lab.ServerFiles{}, err
	}
	f := func(s string) string { return filepath.Join(certs, s) }
	return lab.Outputs{ANS: n.A.VMNS, BNS: n.B.VMNS, AIP: l.top.A.VMAddr.String(),
			Files: lab.Files{ServerRootCA: f(pki.FileServerRootCert), ClientCert: f(pki.FileClientLeafCert), ClientKey: f(pki.FileClientLeafKey)}},
		lab.ServerFiles{CertFile: f(pki.FileServerLeafCert), KeyFile: f(pki.FileServerLeafKey), ClientCAFile: f(pki.FileClientRootCert)}, nil
}

func (l *Lab) start(ctx context.Context, ns, role, certs string) (*exec.Cmd, error) {
	data := filepath.Join(l.Dir, "data-"+role)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	// Runs until Down signals it: not tied to ctx.
	cmd := netlab.Command(context.Background(), ns, l.Exe, "standin", "-role", role, "-a-ip", l.top.A.VMAddr.String(), "-certs", certs, "-data", data)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stand-in %s in %s: %w", role, ns, err)
	}
	done := make(chan struct{})
	l.exit[cmd] = done
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		ready <- s.Scan() && bytes.Contains(s.Bytes(), []byte(`"ready"`))
		for s.Scan() {
		}
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case ok := <-ready:
		if ok {
			return cmd, nil
		}
	case <-ctx.Done():
	}
	l.stop(cmd)
	return nil, fmt.Errorf("stand-in %s in %s did not start: %s", role, ns, bytes.TrimSpace(stderr.Bytes()))
}

// PIDs are the two stand-in processes (ip netns exec execs in place).
func (l *Lab) PIDs() (a, b []int, err error) {
	if l.a == nil || l.b == nil {
		return nil, nil, errors.New("the stand-in lab is not up")
	}
	return []int{l.a.Process.Pid}, []int{l.b.Process.Pid}, nil
}

func (l *Lab) stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-l.exit[cmd]:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-l.exit[cmd]
	}
}

// Down stops both processes and removes the namespaces.
func (l *Lab) Down(ctx context.Context) error {
	l.stop(l.b)
	l.stop(l.a)
	l.a, l.b = nil, nil
	if l.top.ID == "" {
		return nil
	}
	return netlab.DestroyByID(ctx, l.top.ID)
}
