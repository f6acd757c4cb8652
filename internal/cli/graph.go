package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/graph"
	"github.com/dualpeer/dualpeer/internal/live"
	"github.com/dualpeer/dualpeer/internal/provider/local"
)

// localGraphLiveSource is App.GraphLiveSource for real use: the configuration and live state of
// the deployment recorded in app.StateDir by the local provider.
func localGraphLiveSource(ctx context.Context, app *App) (*blueprint.Config, *graph.Live, error) {
	p, err := local.New(local.Options{StateDir: app.StateDir})
	if err != nil {
		return nil, nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, nil, err
	}
	l := live.Graph(st)
	return st.Deployment.Config, &l, nil
}

// graphFlags are the graph verb's flags.
type graphFlags struct {
	format string
	output string
	live   bool
	config configFlags
}

func newGraphCmd(app *App) *cobra.Command {
	f := &graphFlags{}
	cmd := &cobra.Command{
		Use:   "graph",
		Short: "Draw the topology: VNets, subnets, VMs, peering, the MQTT link and CA trust",
		Long: `graph draws the topology a configuration builds: both VNets with their address spaces,
subnets and VMs with their IPs, the peering with its four settings, Cluster A's listener with its
port and authentication, Cluster B's dataflow as an arrow to it, and which root CA each side trusts.

SVG is drawn by dualpeer itself (no Graphviz needed); dot is for Graphviz; mermaid is for Markdown.
With --live it overlays the running deployment's state (agents, link, counters).`,
		Example: `  # The quick-start topology as an SVG file
  dualpeer graph -o topology.svg

  # The topology of your own variables, as Graphviz input
  dualpeer graph --format dot -var-file dualpeer.tfvars | dot -Tpng -o topology.png

  # The running deployment with live state, as Mermaid for a README
  dualpeer graph --live --format mermaid`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runGraph(cmd.Context(), app, f); err != nil {
				return fmt.Errorf("graph: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "svg", "output format: svg, dot or mermaid")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().BoolVar(&f.live, "live", false, "overlay the running deployment's live state (needs a deployment started with dualpeer up)")
	f.config.addFlags(cmd)
	return cmd
}

func runGraph(ctx context.Context, app *App, f *graphFlags) error {
	render, err := graphRenderer(f.format)
	if err != nil {
		return err
	}
	// With no variables at all, draw what `dualpeer up` would build (the quick-start
	// configuration); otherwise the blueprint's defaults plus what the user gave, as plan does.
	base := blueprint.Default
	if len(f.config.varFiles) == 0 && len(f.config.vars) == 0 {
		if _, err := os.Stat(DefaultVarFile); err != nil {
			base = blueprint.QuickStart
		}
	}
	cfg, err := f.config.load(ctx, base)
	if err != nil {
		return err
	}
	m := graph.FromConfig(cfg)
	if f.live {
		// The running deployment's own configuration: the picture must show what is deployed.
		if app.GraphLiveSource == nil {
			return errors.New("no running deployment to draw: run `dualpeer up` first, or drop --live")
		}
		dcfg, l, err := app.GraphLiveSource(ctx, app)
		if err != nil {
			return fmt.Errorf("read live state (is the deployment up? run `dualpeer up` first, or drop --live): %w", err)
		}
		if dcfg != nil {
			m = graph.FromConfig(dcfg)
		}
		if l != nil {
			m.ApplyLive(*l)
		}
	}
	var buf bytes.Buffer
	if err := render(&buf, m); err != nil {
		return err
	}
	if f.output == "" || f.output == "-" {
		_, err := app.Out.Write(buf.Bytes())
		return err
	}
	return writeFileAtomic(f.output, buf.Bytes())
}

func graphRenderer(format string) (func(io.Writer, graph.Model) error, error) {
	switch strings.ToLower(format) {
	case "svg":
		return graph.SVG, nil
	case "dot", "graphviz":
		return graph.DOT, nil
	case "mermaid", "mmd":
		return graph.Mermaid, nil
	}
	return nil, fmt.Errorf("--format %q is not one of svg, dot, mermaid", format)
}

// writeFileAtomic writes via a temporary file and a rename so a reader (a browser reloading the
// picture, a docs build) never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w (check that the directory exists and is writable)", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
