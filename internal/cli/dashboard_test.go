package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/dashboard"
)

func TestDashboardCommandErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"all interfaces":   {[]string{"dashboard", "--addr", "0.0.0.0:8088"}, "loopback"},
		"no host":          {[]string{"dashboard", "--addr", ":8088"}, "every interface"},
		"lab address":      {[]string{"dashboard", "--addr", "10.1.1.4:8088"}, "127.0.0.1:8088"},
		"nothing deployed": {[]string{"dashboard", "--addr", "127.0.0.1:0"}, "run `dualpeer up` first"},
	} {
		t.Run(name, func(t *testing.T) {
			// No source: nothing is deployed.
			code, _, errOut := runCLIWith(t, func(app *App) { app.DashboardSource = nil }, tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want an error containing %q", code, errOut, tc.want)
			}
		})
	}
}

func TestDashboardCommandServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Stop the server as soon as it announces its URL.
	out := &cancelOnWrite{cancel: cancel}
	app := &App{
		Streams: Streams{Out: out, ErrOut: out},
		DashboardSource: func(ctx context.Context, app *App) (dashboard.Source, error) {
			return dashboard.SourceFunc(func(ctx context.Context) (*dashboard.Snapshot, error) {
				return &dashboard.Snapshot{Deployment: "t"}, nil
			}), nil
		},
	}
	if err := runDashboard(ctx, app, "127.0.0.1:0"); err != nil {
		t.Fatalf("runDashboard: %v", err)
	}
	if !strings.Contains(out.b.String(), "Dashboard: http://127.0.0.1:") {
		t.Errorf("no URL announced: %q", out.b.String())
	}
}

type cancelOnWrite struct {
	b      strings.Builder
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.cancel()
	return c.b.Write(p)
}
