package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/procstat"
	"github.com/dualpeer/dualpeer/internal/netlab"
)

// Dualpeer runs one dualpeer binary against one state directory.
type Dualpeer struct {
	Bin      string
	StateDir string
	UpArgs   []string  // extra arguments for `up`
	Log      io.Writer // receives dualpeer's stderr and stdout; nil discards
}

// Up runs `dualpeer up` and returns its wall time.
func (d Dualpeer) Up(ctx context.Context) (time.Duration, error) {
	return d.run(ctx, append([]string{"up"}, d.UpArgs...)...)
}

// Down runs `dualpeer down` and returns its wall time.
func (d Dualpeer) Down(ctx context.Context) (time.Duration, error) {
	return d.run(ctx, "down")
}

func (d Dualpeer) run(ctx context.Context, args ...string) (time.Duration, error) {
	full := append([]string{"--state-dir", d.StateDir}, args...)
	cmd := exec.CommandContext(ctx, d.Bin, full...)
	var tail bytes.Buffer
	w := io.Writer(&tail)
	if d.Log != nil {
		w = io.MultiWriter(&tail, d.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("`%s %s` failed after %s: %w\n%s", d.Bin, strings.Join(full, " "), took.Round(time.Millisecond), err, lastLines(tail.String(), 15))
	}
	return took, nil
}

// Files are the client's certificate files as `dualpeer output -json` lists them.
type Files struct {
	ServerRootCA string `json:"server_root_ca"`
	ClientCert   string `json:"client_cert"`
	ClientKey    string `json:"client_key"`
}

// Outputs are the values of `dualpeer output -json` the benchmark needs.
type Outputs struct {
	ANS   string `json:"cluster_a_vm_namespace"`
	BNS   string `json:"cluster_b_vm_namespace"`
	AIP   string `json:"cluster_a_vm_private_ip"`
	Files Files  `json:"client_certificate_files"`
}

// Outputs runs `dualpeer output -json`.
func (d Dualpeer) Outputs(ctx context.Context) (Outputs, error) {
	cmd := exec.CommandContext(ctx, d.Bin, "--state-dir", d.StateDir, "output", "-json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Outputs{}, fmt.Errorf("`dualpeer --state-dir %s output -json`: %w\n%s", d.StateDir, err, lastLines(stderr.String(), 10))
	}
	return ParseOutputs(out)
}

// ParseOutputs reads `output -json`. It accepts plain values and Terraform's {"value": …} form.
func ParseOutputs(b []byte) (Outputs, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return Outputs{}, fmt.Errorf("parse `dualpeer output -json`: %w", err)
	}
	for k, v := range raw {
		var wrapped struct {
			Value json.RawMessage `json:"value"`
		}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &wrapped) == nil && wrapped.Value != nil {
			raw[k] = wrapped.Value
		}
	}
	flat, _ := json.Marshal(raw)
	var o Outputs
	if err := json.Unmarshal(flat, &o); err != nil {
		return Outputs{}, fmt.Errorf("parse `dualpeer output -json`: %w", err)
	}
	var errs []error
	for name, v := range map[string]string{"cluster_a_vm_namespace": o.ANS, "cluster_b_vm_namespace": o.BNS,
		"cluster_a_vm_private_ip": o.AIP, "client_certificate_files.server_root_ca": o.Files.ServerRootCA,
		"client_certificate_files.client_cert": o.Files.ClientCert, "client_certificate_files.client_key": o.Files.ClientKey} {
		if v == "" {
			errs = append(errs, fmt.Errorf("`dualpeer output -json` has no %s", name))
		}
	}
	return o, errors.Join(errs...)
}

// ServerFiles are Cluster A's broker material in the state directory, which the reference
// Mosquitto on A uses too.
type ServerFiles struct {
	CertFile     string // server leaf bundle
	KeyFile      string
	ClientCAFile string // the client root CA, all PEM files of the config map concatenated
}

// ServerFiles locates A's broker certificate, key and trusted client CA in the state
// directory, writing the CA bundle to workDir.
func (d Dualpeer) ServerFiles(workDir string) (ServerFiles, error) {
	a := filepath.Join(d.StateDir, "clusters", "a")
	f := ServerFiles{
		CertFile: filepath.Join(a, "secrets", "broker-tls-cert", "tls.crt"),
		KeyFile:  filepath.Join(a, "secrets", "broker-tls-cert", "tls.key"),
	}
	for _, p := range []string{f.CertFile, f.KeyFile} {
		if _, err := os.Stat(p); err != nil {
			return f, fmt.Errorf("cluster A's broker certificate is not where the benchmark expects it: %w (has the state layout changed?)", err)
		}
	}
	caDir := filepath.Join(a, "configmaps", "client-ca")
	ents, err := os.ReadDir(caDir)
	if err != nil {
		return f, fmt.Errorf("cluster A's trusted client CA config map: %w", err)
	}
	var bundle []byte
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(caDir, e.Name()))
		if err != nil {
			return f, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		if bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
			bundle = append(bundle, b...)
			if !bytes.HasSuffix(bundle, []byte("\n")) {
				bundle = append(bundle, '\n')
			}
		}
	}
	if len(bundle) == 0 {
		return f, fmt.Errorf("no PEM certificate in %s: cluster A has no trusted client CA", caDir)
	}
	f.ClientCAFile = filepath.Join(workDir, "client-ca.pem")
	if err := os.WriteFile(f.ClientCAFile, bundle, 0o644); err != nil {
		return f, fmt.Errorf("write the client CA bundle: %w", err)
	}
	return f, nil
}

// AgentPIDs lists the dualpeer processes inside network namespace ns (the cluster's agent).
func AgentPIDs(ns string) ([]int, error) {
	pids, err := netlab.Processes(ns)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range pids {
		if c, err := procstat.Comm(p); err == nil && c == "dualpeer" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no dualpeer agent process runs in namespace %s: did `dualpeer up` start the agents? (see the agent logs in the state directory)", ns)
	}
	return out, nil
}

// Build compiles ./cmd/dualpeer of the module at repo into dir and returns the binary's path.
func Build(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "dualpeer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dualpeer")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build dualpeer from %s: %w\n%s", repo, err, lastLines(string(out), 20))
	}
	return bin, nil
}

// Commit describes the checkout at repo: the short commit, "+dirty" when files differ.
func Commit(ctx context.Context, repo string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += "+dirty"
	}
	return c
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
