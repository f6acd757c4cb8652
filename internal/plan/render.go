package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// FormatVersion is the version of the JSON plan schema (docs/plan-json.md). It changes only
// when a field is removed or its meaning changes; new fields keep the version.
const FormatVersion = "1.0"

// WithSubscription returns a copy of the plan whose ARM ids name the subscription sub instead of
// blueprint.SubscriptionPlaceholder.
func (p *Plan) WithSubscription(sub string) *Plan {
	out := &Plan{Config: p.Config, Resources: make([]*Resource, len(p.Resources))}
	for i, r := range p.Resources {
		c := *r
		c.ID = strings.ReplaceAll(r.ID, "/subscriptions/"+blueprint.SubscriptionPlaceholder, "/subscriptions/"+sub)
		c.Attributes = make(map[string]Value, len(r.Attributes))
		for k, v := range r.Attributes {
			if s, ok := v.Value.(string); ok {
				v.Value = strings.ReplaceAll(s, "/subscriptions/"+blueprint.SubscriptionPlaceholder, "/subscriptions/"+sub)
			}
			c.Attributes[k] = v
		}
		out.Resources[i] = &c
	}
	return out
}

// jsonPlan is the documented JSON schema (docs/plan-json.md).
type jsonPlan struct {
	FormatVersion string      `json:"format_version"`
	Variables     jsonVars    `json:"variables"`
	Summary       Summary     `json:"summary"`
	Resources     []*Resource `json:"resources"`
}

type jsonVars struct {
	Environment    string `json:"environment"`
	ResourcePrefix string `json:"resource_prefix"`
	Location       string `json:"location"`
	Instance       string `json:"instance"`
	CertMode       string `json:"certificate_mode"`
}

// WriteJSON writes the plan as stable, indented JSON (keys sorted, resources in plan order).
// Sensitive values never appear: their Value is never set.
func (p *Plan) WriteJSON(w io.Writer) error {
	jp := jsonPlan{FormatVersion: FormatVersion, Summary: p.Summary(), Resources: p.Resources}
	if c := p.Config; c != nil {
		jp.Variables = jsonVars{c.Environment, c.ResourcePrefix, c.Location, c.Instance, string(c.CertMode())}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(jp); err != nil {
		return fmt.Errorf("write plan JSON: %w", err)
	}
	return nil
}

var clusterTitles = map[Cluster]string{
	ClusterA:      "Cluster A (server: MQTT broker)",
	ClusterB:      "Cluster B (client: dataflow to Cluster A)",
	ClusterShared: "Shared by both clusters",
}

// WriteText writes a terraform-like human view grouped by cluster, ending in the summary line
// "Plan: N to add (A: x, B: y, shared: z)."
func (p *Plan) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	if c := p.Config; c != nil {
		ew.printf("dualpeer plan for environment=%s resource_prefix=%s location=%s instance=%s (certificates: %s)\n",
			c.Environment, c.ResourcePrefix, c.Location, c.Instance, c.CertMode())
	}
	ew.printf("Resource actions are indicated with the following symbols:\n  + create\n <= read (an existing resource; never changed)\n")
	ew.printf("Values marked (known after apply) are set by Azure; \"predicted\" is what dualpeer expects.\n")
	for _, cl := range []Cluster{ClusterA, ClusterB, ClusterShared} {
		var rs []*Resource
		for _, r := range p.Resources {
			if r.Cluster == cl {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		ew.printf("\n=== %s: %d resources ===\n", clusterTitles[cl], len(rs))
		for _, r := range rs {
			writeResource(ew, r)
		}
	}
	s := p.Summary()
	ew.printf("\nPlan: %d to add (A: %d, B: %d, shared: %d).", s.Add, s.A, s.B, s.Shared)
	if s.Read > 0 {
		ew.printf(" %d to read.", s.Read)
	}
	ew.printf("\n")
	return ew.err
}

func writeResource(ew *errWriter, r *Resource) {
	verb, sym, kw := "will be created", "+", "resource"
	if r.Action == ActionRead {
		verb, sym, kw = "will be read", "<=", "data"
	}
	ew.printf("\n  # %s %s\n", r.Address, verb)
	ew.printf("  %s %s %q %q {\n", sym, kw, r.Type+"@"+r.APIVersion, r.Name)
	keys := make([]string, 0, len(r.Attributes)+1)
	for k := range r.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	keys = append([]string{"id"}, keys...)
	width := 0
	for _, k := range keys {
		if len(k) > width {
			width = len(k)
		}
	}
	for _, k := range keys {
		var val string
		if k == "id" {
			val = fmt.Sprintf("%q", r.ID)
		} else {
			val = FormatValue(r.Attributes[k])
		}
		ew.printf("      + %-*s = %s\n", width, k, val)
	}
	if r.Local.Supported {
		ew.printf("      # local: supported (%s)\n", r.Local.Reason)
	} else {
		ew.printf("      # local: %s\n", r.Local.Reason)
	}
	if len(r.DependsOn) > 0 {
		ew.printf("      # depends on: %s\n", strings.Join(r.DependsOn, ", "))
	}
	ew.printf("    }\n")
}

// FormatValue renders one attribute as the human plan shows it.
func FormatValue(v Value) string {
	switch {
	case v.Sensitive:
		return "(sensitive)"
	case v.Computed && v.Predicted != nil:
		return "(known after apply; predicted " + literal(v.Predicted) + ")"
	case v.Computed:
		return "(known after apply)"
	}
	return literal(v.Value)
}

func literal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	s := string(b)
	// JSON is already HCL-like for scalars and lists; add spaces after commas for readability.
	s = strings.ReplaceAll(s, `","`, `", "`)
	s = strings.ReplaceAll(s, `":`, `": `)
	return s
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, a ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, a...)
}

// WriteDOT writes the DAG in Graphviz DOT: one subgraph per cluster, an edge from each
// dependency to the resource that needs it.
func (p *Plan) WriteDOT(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("digraph dualpeer {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n")
	for _, cl := range []Cluster{ClusterA, ClusterB, ClusterShared} {
		ew.printf("  subgraph \"cluster_%s\" {\n    label=%q;\n", cl, clusterTitles[cl])
		for _, r := range p.Resources {
			if r.Cluster == cl {
				style := ""
				if !r.Local.Supported {
					style = ", style=dashed"
				}
				ew.printf("    %q [label=%q%s];\n", r.Address, r.Name+"\n"+r.Type, style)
			}
		}
		ew.printf("  }\n")
	}
	for _, r := range p.Resources {
		for _, d := range r.DependsOn {
			ew.printf("  %q -> %q;\n", d, r.Address)
		}
	}
	ew.printf("}\n")
	return ew.err
}

// WriteMermaid writes the DAG as a Mermaid flowchart.
func (p *Plan) WriteMermaid(w io.Writer) error {
	ew := &errWriter{w: w}
	ids := map[string]string{}
	for i, r := range p.Resources {
		ids[r.Address] = fmt.Sprintf("r%d", i)
	}
	ew.printf("flowchart LR\n")
	for _, cl := range []Cluster{ClusterA, ClusterB, ClusterShared} {
		ew.printf("  subgraph %s[\"%s\"]\n", "c_"+string(cl), clusterTitles[cl])
		for _, r := range p.Resources {
			if r.Cluster == cl {
				ew.printf("    %s[\"%s<br/>%s\"]\n", ids[r.Address], mermaidText(r.Name), mermaidText(r.Type))
			}
		}
		ew.printf("  end\n")
	}
	for _, r := range p.Resources {
		for _, d := range r.DependsOn {
			ew.printf("  %s --> %s\n", ids[d], ids[r.Address])
		}
	}
	return ew.err
}

func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}
