package azure_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/plan"
	"github.com/dualpeer/dualpeer/internal/provider/azure"
)

func TestExportTemplate(t *testing.T) {
	cfg := testConfig()
	p, err := plan.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := azure.ExportTemplate(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema         string           `json:"$schema"`
		ContentVersion string           `json:"contentVersion"`
		Parameters     map[string]any   `json:"parameters"`
		Resources      []map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.Schema != "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#" || doc.ContentVersion == "" || len(doc.Resources) == 0 {
		t.Fatalf("missing required template fields: schema %q contentVersion %q, %d resources", doc.Schema, doc.ContentVersion, len(doc.Resources))
	}
	var got []string
	for _, r := range doc.Resources {
		if r["type"] != "Microsoft.Resources/deployments" {
			got = append(got, r["type"].(string)+" "+r["name"].(string))
			continue
		}
		if r["resourceGroup"] == "" {
			t.Errorf("nested deployment %v has no resourceGroup", r["name"])
		}
		inner := r["properties"].(map[string]any)["template"].(map[string]any)["resources"].([]any)
		for _, x := range inner {
			m := x.(map[string]any)
			for _, k := range []string{"type", "apiVersion", "name"} {
				if m[k] == nil {
					t.Errorf("resource %v lacks %s", m["name"], k)
				}
			}
			name := m["name"].(string)
			got = append(got, m["type"].(string)+" "+name[strings.LastIndex(name, "/")+1:])
		}
	}
	var want []string
	for _, r := range p.Resources {
		if !strings.HasPrefix(r.Type, "dualpeer/") {
			want = append(want, r.Type+" "+r.Name)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("template resources differ from the plan's Azure resources:\ngot  %d\nwant %d", len(got), len(want))
		gm := map[string]int{}
		for _, g := range got {
			gm[g]++
		}
		for _, w := range want {
			if gm[w] == 0 {
				t.Errorf("missing: %s", w)
			}
			gm[w]--
		}
		for k, v := range gm {
			if v > 0 {
				t.Errorf("extra: %s", k)
			}
		}
	}
	if strings.Contains(string(out), "PRIVATE KEY") || strings.Contains(string(out), "BEGIN CERTIFICATE") {
		t.Error("the template contains certificate material; it must take it as secure parameters")
	}
	if doc.Parameters["server-leaf-ca-key"] == nil {
		t.Error("no secure parameter for the server key")
	}
}
