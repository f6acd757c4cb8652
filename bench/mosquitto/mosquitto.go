package mosquitto

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"text/template"
	"time"
)

//go:embed a.conf.tmpl b.conf.tmpl
var templates embed.FS

// ServerConfig is Cluster A's broker.
type ServerConfig struct {
	Addr         string // listen address: A's VM private IP
	Port         int
	ClientCAFile string // trusted client root CA (PEM)
	CertFile     string // server leaf bundle: leaf + intermediate (PEM)
	KeyFile      string // server leaf key (PEM, 0600)
	DataDir      string // persistence and log directory
	LogFile      string
	MaxQueued    int
}

// BridgeConfig is Cluster B's broker and its bridge to A.
type BridgeConfig struct {
	LocalPort      int // plain listener on 127.0.0.1
	BridgeName     string
	RemoteAddr     string // A's VM private IP
	RemotePort     int
	ServerCAFile   string // server root CA (PEM)
	ClientCertFile string // client leaf bundle (PEM)
	ClientKeyFile  string // client leaf key (PEM, 0600)
	LocalTopic     string // "input"
	RemoteTopic    string // "output"
	DataDir        string
	LogFile        string
	MaxQueued      int
}

// safeValue rejects what would break out of a configuration line: Mosquitto reads one
// directive per line and splits on spaces.
var safeValue = regexp.MustCompile(`^[A-Za-z0-9._:/@+-]+$`)

func checkValues(kv map[string]string) error {
	var errs []error
	for k, v := range kv {
		if !safeValue.MatchString(v) {
			errs = append(errs, fmt.Errorf("%s %q cannot go into a mosquitto.conf line: use a value of letters, digits and ._:/@+- only (no spaces)", k, v))
		}
	}
	return errors.Join(errs...)
}

// RenderServer renders a.conf.tmpl.
func RenderServer(c ServerConfig) ([]byte, error) {
	if err := checkValues(map[string]string{"Addr": c.Addr, "ClientCAFile": c.ClientCAFile, "CertFile": c.CertFile,
		"KeyFile": c.KeyFile, "DataDir": c.DataDir, "LogFile": c.LogFile}); err != nil {
		return nil, err
	}
	return render("a.conf.tmpl", c)
}

// RenderBridge renders b.conf.tmpl.
func RenderBridge(c BridgeConfig) ([]byte, error) {
	if err := checkValues(map[string]string{"BridgeName": c.BridgeName, "RemoteAddr": c.RemoteAddr, "ServerCAFile": c.ServerCAFile,
		"ClientCertFile": c.ClientCertFile, "ClientKeyFile": c.ClientKeyFile, "LocalTopic": c.LocalTopic,
		"RemoteTopic": c.RemoteTopic, "DataDir": c.DataDir, "LogFile": c.LogFile}); err != nil {
		return nil, err
	}
	return render("b.conf.tmpl", c)
}

func render(name string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").ParseFS(templates, name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Version returns the installed broker's version ("2.0.11"), or an error that says how to
// install it.
func Version(ctx context.Context) (string, error) {
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		return "", fmt.Errorf("mosquitto is not installed: run `apt-get install -y mosquitto` (the benchmark's reference broker)")
	}
	// `mosquitto -h` prints the version and exits with 3; only the text matters.
	out, _ := exec.CommandContext(ctx, path, "-h").CombinedOutput()
	m := regexp.MustCompile(`mosquitto version (\S+)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("cannot read the version of %s from `mosquitto -h`", path)
	}
	return string(m[1]), nil
}

// Process is one running broker.
type Process struct {
	Name    string // "a" or "b", for messages
	NS      string
	Conf    string
	LogFile string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// Pid is the broker's process id (ip netns exec execs mosquitto in place).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Start writes conf to dir/<name>.conf and runs `mosquitto -c` with it in network namespace ns
// through command (netlab.Command), then waits until the log says the broker is running.
// The broker runs until Stop; ctx bounds only the start.
func Start(ctx context.Context, command func(ctx context.Context, ns, name string, arg ...string) *exec.Cmd,
	ns, name, dir string, conf []byte, logFile string) (*Process, error) {
	confPath := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(confPath, conf, 0o644); err != nil {
		return nil, fmt.Errorf("write mosquitto config %s: %w", confPath, err)
	}
	// The process must outlive ctx (it is stopped by pid), so it gets a background context.
	cmd := command(context.Background(), ns, "mosquitto", "-c", confPath)
	cmd.Stdout, cmd.Stderr = nil, nil
	// A session of its own, as dualpeer's agents have (and as a daemonised or systemd-run
	// Mosquitto has): with the kernel's autogroup scheduling each session is a group of its
	// own, and a broker sharing the benchmark's session would be scheduled together with the
	// load generator instead of beside it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mosquitto (%s) in %s: %w", name, ns, err)
	}
	p := &Process{Name: name, NS: ns, Conf: confPath, LogFile: logFile, cmd: cmd, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	if err := p.waitLog(ctx, " running"); err != nil {
		_ = p.Stop(context.Background())
		return nil, err
	}
	return p, nil
}

// WaitLog waits until a log line contains substr, the process exits, or ctx ends.
func (p *Process) WaitLog(ctx context.Context, substr string) error { return p.waitLog(ctx, substr) }

func (p *Process) waitLog(ctx context.Context, substr string) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(p.LogFile); err == nil && bytes.Contains(b, []byte(substr)) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("mosquitto (%s) in %s exited (%v) before logging %q: see %s", p.Name, p.NS, p.waitErr, substr, p.LogFile)
		case <-ctx.Done():
			return fmt.Errorf("mosquitto (%s) in %s did not log %q: %w; see %s", p.Name, p.NS, substr, ctx.Err(), p.LogFile)
		case <-t.C:
		}
	}
}

// Stop sends SIGTERM to the broker's pid and waits for it to exit, then SIGKILL if ctx ends.
func (p *Process) Stop(ctx context.Context) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("mosquitto (%s) pid %d did not stop on SIGTERM, killed: %w", p.Name, p.Pid(), ctx.Err())
	}
}

// LogTail returns the last n lines of the broker's log, for error messages.
func (p *Process) LogTail(n int) string {
	f, err := os.Open(p.LogFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
