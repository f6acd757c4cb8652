package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/graph"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), NormalizeArgs(args), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

// runCLIWith is runCLI with a hook, set, that adjusts the App (its sources, say) before it runs.
func runCLIWith(t *testing.T, set func(*App), args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &App{
		Streams:         Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		DashboardSource: localDashboardSource,
		GraphLiveSource: localGraphLiveSource,
	}
	set(app)
	code = run(context.Background(), app, NormalizeArgs(args))
	return code, out.String(), errOut.String()
}

func TestGraphCommand(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		args     []string
		code     int
		contains []string // in stdout, or in stderr when code != 0
	}{
		"svg quick start": {args: []string{"graph"}, contains: []string{`<svg xmlns="http://www.w3.org/2000/svg"`, "10.1.1.4", "Anonymous listener"}},
		"dot":             {args: []string{"graph", "--format", "dot"}, contains: []string{"digraph dualpeer", `"listener-x509"`}},
		"mermaid":         {args: []string{"graph", "--format", "mermaid"}, contains: []string{"flowchart LR", "subgraph vnet_a"}},
		"spec example vars": {args: []string{"graph", "--format", "dot", "-var=environment=dev", "-var", "resource_prefix=myorg", "-var", "location=eastus2",
			"-var", `cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}`,
			"-var", `cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}`},
			contains: []string{"192.168.1.4:28883", "192.168.1.0/28", "vnet-myorg-cluster-b-dev-001"}},
		"invalid config": {args: []string{"graph", "-var", "environment=dev", "-var", "resource_prefix=myorg", "-var", "location=eastus2",
			"-var", `cluster_b_virtual_network_config={address_space="10.1.0.0/16",subnet_address_prefix="10.1.1.0/24"}`}, code: 1, contains: []string{"cluster_b_virtual_network_config"}},
		"bad format":      {args: []string{"graph", "--format", "png"}, code: 1, contains: []string{`--format "png" is not one of svg, dot, mermaid`}},
		"bad var":         {args: []string{"graph", "--var", "no_such_variable=1"}, code: 1, contains: []string{"no_such_variable"}},
		"live without up": {args: []string{"graph", "--live"}, code: 1, contains: []string{"--live"}},
		"missing dir":     {args: []string{"graph", "-o", filepath.Join(dir, "nope", "x.svg")}, code: 1, contains: []string{"x.svg"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			where := out
			if code != 0 {
				where = errOut
			}
			for _, s := range tc.contains {
				if !strings.Contains(where, s) {
					t.Errorf("output lacks %q:\n%s", s, where)
				}
			}
		})
	}
}

func TestGraphToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "topology.svg")
	if code, _, errOut := runCLI(t, "graph", "-o", path); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("<svg")) {
		t.Fatalf("read %s: %v, starts %q", path, err, b[:min(len(b), 20)])
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestGraphLiveHook(t *testing.T) {
	code, out, errOut := runCLIWith(t, func(app *App) {
		app.GraphLiveSource = func(ctx context.Context, app *App) (*blueprint.Config, *graph.Live, error) {
			return nil, &graph.Live{Endpoint: &graph.State{Status: graph.StatusDown, Detail: "tls: bad certificate"}}, nil
		}
	}, "graph", "--live")
	if code != 0 || !strings.Contains(out, "tls: bad certificate") || !strings.Contains(out, "live state") {
		t.Fatalf("exit %d, stderr %s; live state missing from the SVG", code, errOut)
	}

	code, _, errOut = runCLIWith(t, func(app *App) {
		app.GraphLiveSource = func(ctx context.Context, app *App) (*blueprint.Config, *graph.Live, error) {
			return nil, nil, errors.New("no deployment in .dualpeer")
		}
	}, "graph", "--live")
	if code == 0 || !strings.Contains(errOut, "dualpeer up") || !strings.Contains(errOut, "no deployment in .dualpeer") {
		t.Fatalf("exit %d, stderr %q: want the cause and the fix", code, errOut)
	}
}
