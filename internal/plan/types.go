package plan

import "github.com/dualpeer/dualpeer/internal/blueprint"

// Cluster says which side a resource belongs to.
type Cluster string

const (
	ClusterA      Cluster = "a"
	ClusterB      Cluster = "b"
	ClusterShared Cluster = "shared" // e.g. the certificates, which span both clusters
)

// Value is one attribute of a resource as the plan shows it. Known values print as they are;
// values only known after apply print "(known after apply)" with the prediction when there is
// one; sensitive values print "(sensitive)" and their Value is never set.
type Value struct {
	Value     any  `json:"value,omitempty"`
	Computed  bool `json:"computed,omitempty"`  // known after apply
	Predicted any  `json:"predicted,omitempty"` // best prediction for a computed value
	Sensitive bool `json:"sensitive,omitempty"` // never printed
}

// LocalSupport says what the local target does with a resource.
type LocalSupport struct {
	Supported bool   `json:"supported"`
	Reason    string `json:"reason,omitempty"` // e.g. "cloud only: Log Analytics has no local counterpart"
}

// Resource is one node of the plan DAG.
type Resource struct {
	Address    string           `json:"address"`     // stable unique key, terraform-like: "cluster_a.cloud_networking.virtual_network"
	ID         string           `json:"id"`          // ARM resource id (may contain predicted parts)
	Type       string           `json:"type"`        // ARM type, e.g. Microsoft.Network/virtualNetworks; dualpeer-only types use "dualpeer/…"
	APIVersion string           `json:"api_version"` // ARM api-version
	Name       string           `json:"name"`
	Cluster    Cluster          `json:"cluster"`
	Module     string           `json:"module"`     // the blueprint module it comes from, e.g. cloud_networking
	Attributes map[string]Value `json:"attributes"` // the settings a user checks (peering flags, SAN, CIDRs…)
	DependsOn  []string         `json:"depends_on,omitempty"`
	Local      LocalSupport     `json:"local"`
	Action     Action           `json:"action"` // create, or read for an existing resource (use_existing_resource_group_x)
}

// Action is what applying the plan does with a resource.
type Action string

const (
	ActionCreate Action = "create"
	ActionRead   Action = "read" // looked up, never created or deleted (an existing resource group)
)

// Summary counts the resources a plan creates, per cluster.
type Summary struct {
	Add    int `json:"add"`
	Read   int `json:"read"`
	A      int `json:"cluster_a"`
	B      int `json:"cluster_b"`
	Shared int `json:"shared"`
}

// Summary counts what the plan creates (reads are counted apart).
func (p *Plan) Summary() Summary {
	var s Summary
	for _, r := range p.Resources {
		if r.Action == ActionRead {
			s.Read++
			continue
		}
		s.Add++
		switch r.Cluster {
		case ClusterA:
			s.A++
		case ClusterB:
			s.B++
		default:
			s.Shared++
		}
	}
	return s
}

// Get returns the resource at address, or nil.
func (p *Plan) Get(address string) *Resource {
	for _, r := range p.Resources {
		if r.Address == address {
			return r
		}
	}
	return nil
}

// Plan is the whole resource graph for one configuration, in a stable topological order.
type Plan struct {
	Config    *blueprint.Config `json:"-"`
	Resources []*Resource       `json:"resources"`
}
