package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/provider/azure"
)

// planRenderer writes a plan in one output format.
type planRenderer func(ctx context.Context, app *App, p *plan.Plan, w io.Writer) error

// planRenderers are the `plan -o` formats.
var planRenderers = map[string]planRenderer{
	"text": func(_ context.Context, _ *App, p *plan.Plan, w io.Writer) error { return p.WriteText(w) },
	"json": func(_ context.Context, _ *App, p *plan.Plan, w io.Writer) error { return p.WriteJSON(w) },
	// A subscription-scope deployment template for `az deployment sub create`.
	"arm-template": func(_ context.Context, _ *App, p *plan.Plan, w io.Writer) error {
		b, err := azure.ExportTemplate(p)
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	},
}

func planFormats() []string {
	out := make([]string, 0, len(planRenderers))
	for k := range planRenderers {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type planFlags struct {
	configFlags
	output string
	graph  string
}

func newPlanCmd(app *App) *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show every resource both clusters need, with names, ARM ids and dependencies",
		Long: `plan validates the configuration and prints the resource graph of both clusters: resource groups,
identities, Key Vault, observability, data, messaging, networks, VMs, Arc, IoT Operations, the two
peerings, the certificates, the Key Vault secrets, the setup scripts and the MQTT link. Values set by
Azure are shown as (known after apply) with dualpeer's prediction; secrets as (sensitive).
It touches nothing.`,
		Example: `  dualpeer plan -var environment=dev -var resource_prefix=myorg -var location=eastus2
  dualpeer plan -o json -var-file dualpeer.tfvars
  dualpeer plan --graph mermaid -var-file dualpeer.tfvars
  dualpeer plan -o arm-template -var-file dualpeer.tfvars > deploy.json   # az deployment sub create`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPlan(cmd.Context(), app, f)
		},
	}
	f.addFlags(cmd)
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: "+strings.Join(planFormats(), "|"))
	cmd.Flags().StringVar(&f.graph, "graph", "", "print the dependency graph instead: dot|mermaid")
	return cmd
}

func runPlan(ctx context.Context, app *App, f *planFlags) error {
	render, ok := planRenderers[f.output]
	if !ok {
		return fmt.Errorf("unknown output format %q for -o: use one of %s", f.output, strings.Join(planFormats(), ", "))
	}
	if f.graph != "" && f.graph != "dot" && f.graph != "mermaid" {
		return fmt.Errorf("unknown graph format %q for --graph: use dot or mermaid", f.graph)
	}
	cfg, err := f.load(ctx, blueprint.Default)
	if err != nil {
		lines, n := problemList(err)
		for _, l := range lines {
			fmt.Fprintf(app.ErrOut, "  - %s\n", strings.ReplaceAll(l, "\n", "\n    "))
		}
		return &ExitError{Code: 1, Err: fmt.Errorf("cannot plan: the configuration has %d problem(s), listed above (run `dualpeer validate` after fixing them)", n)}
	}
	p, err := plan.Build(cfg)
	if err != nil {
		return fmt.Errorf("build the plan: %w", err)
	}
	switch f.graph {
	case "dot":
		return p.WriteDOT(app.Out)
	case "mermaid":
		return p.WriteMermaid(app.Out)
	}
	return render(ctx, app, p, app.Out)
}
