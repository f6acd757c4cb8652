package azure

import (
	"fmt"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// Outputs are the blueprint's outputs (outputs.tf), computed from the configuration alone:
// every value is a name dualpeer chose, so `dualpeer output` needs no Azure call.
func Outputs(cfg *blueprint.Config) map[string]string {
	out := map[string]string{}
	for _, c := range []string{"a", "b"} {
		n := cfg.Names(c)
		p := "cluster_" + c + "_"
		out[p+"resource_group"] = n.ResourceGroup
		out[p+"virtual_network"] = n.VNet
		out[p+"arc_connected_cluster"] = n.ArcCluster
		out[p+"aio_instance"] = n.AIOInstance
		out[p+"azure_arc_proxy_command"] = fmt.Sprintf("az connectedk8s proxy -n %s -g %s", n.ArcCluster, n.ResourceGroup)
	}
	out["vnet_peering_cluster_a_to_cluster_b"] = cfg.Names("a").Peering
	out["vnet_peering_cluster_b_to_cluster_a"] = cfg.Names("b").Peering
	return out
}
