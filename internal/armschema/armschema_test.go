package armschema

import (
	"strings"
	"sync"
	"testing"
)

var (
	loadOnce sync.Once
	loaded   *Set
	loadErr  error
	findErr  error
)

// specs loads the reference folder once per test binary; tests skip when it is absent.
func specs(t *testing.T) *Set {
	t.Helper()
	loadOnce.Do(func() {
		root, err := FindSpecs()
		if err != nil {
			findErr = err
			return
		}
		loaded, loadErr = Load(root)
	})
	if findErr != nil {
		t.Skipf("skipping: reference ARM specs not available: %v", findErr)
	}
	if loadErr != nil {
		t.Fatalf("load ARM specs: %v", loadErr)
	}
	return loaded
}

const cl = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ExtendedLocation/customLocations/cl"

func listener() map[string]any {
	return map[string]any{
		"extendedLocation": map[string]any{"type": "CustomLocation", "name": cl},
		"properties": map[string]any{
			"serviceName": "aio-broker-loadbalancer",
			"serviceType": "LoadBalancer",
			"ports": []any{map[string]any{
				"port": 28883, "protocol": "Mqtt", "authenticationRef": "cert-auth",
				"tls": map[string]any{"mode": "Manual", "manual": map[string]any{"secretRef": "broker-tls-cert"}},
			}},
		},
	}
}

func peering() map[string]any {
	return map[string]any{
		"properties": map[string]any{
			"allowVirtualNetworkAccess": true,
			"allowForwardedTraffic":     true,
			"allowGatewayTransit":       false,
			"useRemoteGateways":         false,
			"remoteVirtualNetwork":      map[string]any{"id": "/subscriptions/0000/resourceGroups/rg-b/providers/Microsoft.Network/virtualNetworks/vnet-b"},
		},
	}
}

func vnet() map[string]any {
	return map[string]any{
		"location": "eastus2",
		"tags":     map[string]string{"Environment": "dev"},
		"properties": map[string]any{
			"addressSpace": map[string]any{"addressPrefixes": []string{"10.1.0.0/16"}},
			"subnets": []any{map[string]any{
				"name": "snet-a",
				"properties": map[string]any{
					"addressPrefix":        "10.1.1.0/24",
					"networkSecurityGroup": map[string]any{"id": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg"},
				},
			}},
		},
	}
}

func runCommand() map[string]any {
	return map[string]any{
		"location": "eastus2",
		"properties": map[string]any{
			"source":           map[string]any{"script": "#!/bin/bash\necho hi\n"},
			"asyncExecution":   false,
			"timeoutInSeconds": 3600,
		},
	}
}

// mutate returns a deep-enough copy of a body with f applied to its properties.
func mutate(body map[string]any, f func(b map[string]any)) map[string]any {
	f(body)
	return body
}

func props(b map[string]any) map[string]any { return b["properties"].(map[string]any) }

func port0(b map[string]any) map[string]any {
	return props(b)["ports"].([]any)[0].(map[string]any)
}

func TestValidateBody(t *testing.T) {
	s := specs(t)
	const (
		listenerType = "Microsoft.IoTOperations/instances/brokers/listeners"
		peeringType  = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
		vnetType     = "Microsoft.Network/virtualNetworks"
		runCmdType   = "Microsoft.Compute/virtualMachines/runCommands"
	)
	tests := map[string]struct {
		typ, api string
		body     map[string]any
		want     []string // substrings each of which must appear in some error; none = valid
	}{
		"listener valid":           {listenerType, "2025-04-01", listener(), nil},
		"peering valid":            {peeringType, "2024-05-01", peering(), nil},
		"vnet valid":               {vnetType, "2024-05-01", vnet(), nil},
		"run command valid":        {runCmdType, "2024-07-01", runCommand(), nil},
		"type is case-insensitive": {strings.ToLower(listenerType), "2025-04-01", listener(), nil},
		"unknown property": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { port0(b)["protocl"] = "Mqtt" }),
			[]string{"properties.ports[0].protocl: unknown property"}},
		"unknown top-level property": {peeringType, "2024-05-01",
			mutate(peering(), func(b map[string]any) { b["extendedLocation"] = map[string]any{} }),
			[]string{"extendedLocation: unknown property"}},
		"missing required nested": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { delete(port0(b), "port") }),
			[]string{"properties.ports[0].port: is required"}},
		"missing extendedLocation": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { delete(b, "extendedLocation") }),
			[]string{"extendedLocation: is required"}},
		"missing ports": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { delete(props(b), "ports") }),
			[]string{"properties.ports: is required"}},
		"bad enum": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { port0(b)["tls"].(map[string]any)["mode"] = "Manul" }),
			[]string{`properties.ports[0].tls.mode: value Manul is not one of [Automatic Manual]`}},
		"bad x-ms-enum inline": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { props(b)["serviceType"] = "Loadbalancer" }),
			[]string{"properties.serviceType: value Loadbalancer"}},
		"bad extendedLocation type": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { b["extendedLocation"].(map[string]any)["type"] = "EdgeZone" }),
			[]string{"extendedLocation.type: value EdgeZone"}},
		"wrong type": {peeringType, "2024-05-01",
			mutate(peering(), func(b map[string]any) { props(b)["allowForwardedTraffic"] = "true" }),
			[]string{"properties.allowForwardedTraffic: want a boolean, got a string"}},
		"port out of range": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { port0(b)["port"] = 70000 }),
			[]string{"above the maximum 65535"}},
		"not an integer": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { port0(b)["port"] = 1.5 }),
			[]string{"want an integer"}},
		"read-only provisioningState": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) { props(b)["provisioningState"] = "Succeeded" }),
			[]string{"properties.provisioningState: is read-only"}},
		"read-only id": {peeringType, "2024-05-01",
			mutate(peering(), func(b map[string]any) { b["etag"] = "x" }),
			[]string{"etag: is read-only"}},
		"opaque ref without id": {vnetType, "2024-05-01",
			mutate(vnet(), func(b map[string]any) {
				props(b)["subnets"].([]any)[0].(map[string]any)["properties"].(map[string]any)["networkSecurityGroup"] = map[string]any{"name": "nsg"}
			}),
			[]string{`properties.subnets[0].properties.networkSecurityGroup: a reference to another resource needs a non-empty string "id"`}},
		"run command without location": {runCmdType, "2024-07-01",
			mutate(runCommand(), func(b map[string]any) { delete(b, "location") }),
			[]string{"location: is required"}},
		"several errors at once": {listenerType, "2025-04-01",
			mutate(listener(), func(b map[string]any) {
				port0(b)["protocol"] = "Http"
				props(b)["bogus"] = 1
				delete(b, "extendedLocation")
			}),
			[]string{"protocol: value Http", "properties.bogus: unknown property", "extendedLocation: is required"}},
		"null": {peeringType, "2024-05-01",
			mutate(peering(), func(b map[string]any) { props(b)["allowForwardedTraffic"] = nil }),
			[]string{"null is not allowed"}},
		"unknown type":        {"Microsoft.Nope/things", "2020-01-01", peering(), []string{"no ARM schema for Microsoft.Nope/things"}},
		"unknown api version": {peeringType, "2023-01-01", peering(), []string{"no ARM schema"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			errs := s.ValidateBody(tc.typ, tc.api, tc.body)
			if len(tc.want) == 0 {
				if len(errs) != 0 {
					t.Fatalf("valid body rejected: %v", Join(errs))
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("broken body accepted, want errors mentioning %q", tc.want)
			}
			all := Join(errs).Error()
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("errors do not mention %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestTypesCovered(t *testing.T) {
	s := specs(t)
	for _, want := range []struct{ typ, api string }{
		{"Microsoft.IoTOperations/instances", "2025-04-01"},
		{"Microsoft.IoTOperations/instances/brokers/authentications", "2025-04-01"},
		{"Microsoft.IoTOperations/instances/brokers/authorizations", "2025-04-01"},
		{"Microsoft.IoTOperations/instances/dataflowEndpoints", "2025-04-01"},
		{"Microsoft.IoTOperations/instances/dataflowProfiles", "2025-04-01"},
		{"Microsoft.IoTOperations/instances/dataflowProfiles/dataflows", "2025-04-01"},
		{"Microsoft.Network/virtualNetworks/subnets", "2024-05-01"},
		{"Microsoft.Compute/virtualMachineScaleSets/virtualMachines/runCommands", "2024-07-01"},
	} {
		if !s.Has(want.typ, want.api) {
			t.Errorf("no body schema for %s@%s; covered: %v", want.typ, want.api, s.Types())
		}
	}
	// The action path virtualMachines/{vm}/runCommand is not a resource type.
	if s.Has("Microsoft.Compute/virtualMachines/runCommand", "2024-07-01") {
		t.Errorf("an action path was indexed as a resource type")
	}
}

func TestResourceTypeOf(t *testing.T) {
	tests := map[string]string{
		"/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks/{v}/virtualNetworkPeerings/{p}": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
		"/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Network/virtualNetworks":                                "",
		"/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{vm}/runCommand":                "",
		"/providers/Microsoft.IoTOperations/operations":                                                                     "",
		"/subscriptions/{s}/providers/Microsoft.IoTOperations/instances/{i}":                                                "Microsoft.IoTOperations/instances",
	}
	for in, want := range tests {
		if got := resourceTypeOf(in); got != want {
			t.Errorf("resourceTypeOf(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .json files") {
		t.Errorf("Load(empty dir) = %v, want a no-files error", err)
	}
	if _, err := Load("/nonexistent/dualpeer-arm-specs"); err == nil {
		t.Errorf("Load(missing dir) succeeded")
	}
}

func BenchmarkValidateBody(b *testing.B) {
	root, err := FindSpecs()
	if err != nil {
		b.Skip(err)
	}
	s, err := Load(root)
	if err != nil {
		b.Fatal(err)
	}
	body := listener()
	for b.Loop() {
		if errs := s.ValidateBody("Microsoft.IoTOperations/instances/brokers/listeners", "2025-04-01", body); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
