package aio

import (
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/armschema"
)

const testCustomLocation = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-myorga-dev-001/providers/Microsoft.ExtendedLocation/customLocations/cl-arck-myorga-dev-001"

// TestARMBodiesMatchSchema validates the ARM body of every MQTT resource of the spec, on both
// clusters and with every option, against the official Microsoft.IoTOperations 2025-04-01
// schema.
func TestARMBodiesMatchSchema(t *testing.T) {
	root, err := armschema.FindSpecs()
	if err != nil {
		t.Skipf("skipping: reference ARM specs not available: %v", err)
	}
	set, err := armschema.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tc := range goldenCases() {
		for _, r := range tc.m.ARMResources(testCustomLocation) {
			seen[r.Type] = true
			if errs := set.ValidateBody(r.Type, ARMAPIVersion, r.Body); len(errs) > 0 {
				t.Errorf("%s: %s %s: body rejected by the ARM schema:\n%v", tc.name, r.Type, r.Name, armschema.Join(errs))
			}
		}
	}
	for _, typ := range []string{ARMTypeBrokerListener, ARMTypeBrokerAuthentication, ARMTypeDataflowEndpoint, ARMTypeDataflowProfile, ARMTypeDataflow} {
		if !seen[typ] {
			t.Errorf("no %s among the spec's resources: the test would prove nothing for it", typ)
		}
	}

	// A CRD-only field must not leak into a body; the validator would refuse it.
	l := ServerResources(testParams(false)).Listeners[0]
	body := l.ARMBody(testCustomLocation)
	if _, ok := body["properties"].(map[string]any)["brokerRef"]; ok {
		t.Errorf("brokerRef (CRD only) sent to ARM")
	}
	body["properties"].(map[string]any)["brokerRef"] = "default"
	errs := set.ValidateBody(ARMTypeBrokerListener, ARMAPIVersion, body)
	if len(errs) == 0 || !strings.Contains(armschema.Join(errs).Error(), "brokerRef") {
		t.Errorf("validator accepted brokerRef in an ARM body: %v", errs)
	}
}

func TestARMBodyShape(t *testing.T) {
	b := ClientResources(testParams(false)).Dataflows[0].ARMBody(testCustomLocation)
	el := b["extendedLocation"].(map[string]any)
	if el["type"] != "CustomLocation" || el["name"] != testCustomLocation {
		t.Errorf("extendedLocation = %v", el)
	}
	props := b["properties"].(map[string]any)
	if _, ok := props["profileRef"]; ok {
		t.Errorf("profileRef (CRD only) sent to ARM")
	}
	if props["mode"] != "Enabled" || len(props["operations"].([]any)) != 3 {
		t.Errorf("dataflow properties = %v", props)
	}
	rs := ClientResources(testParams(false)).ARMResources(testCustomLocation)
	if rs[len(rs)-1].Type != ARMTypeDataflow || rs[len(rs)-1].Parent != DefaultDataflowProfile {
		t.Errorf("dataflow should come last with parent %q: %+v", DefaultDataflowProfile, rs[len(rs)-1])
	}
}
