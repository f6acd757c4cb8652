package aio

import "encoding/json"

// ARMAPIVersion is the Microsoft.IoTOperations API version of the spec's MQTT resources
// (the blueprint's mqtt-configuration module pins 2025-04-01).
const ARMAPIVersion = "2025-04-01"

// ARM resource types of the AIO resources.
const (
	ARMTypeBrokerListener       = "Microsoft.IoTOperations/instances/brokers/listeners"
	ARMTypeBrokerAuthentication = "Microsoft.IoTOperations/instances/brokers/authentications"
	ARMTypeBrokerAuthorization  = "Microsoft.IoTOperations/instances/brokers/authorizations"
	ARMTypeDataflowEndpoint     = "Microsoft.IoTOperations/instances/dataflowEndpoints"
	ARMTypeDataflowProfile      = "Microsoft.IoTOperations/instances/dataflowProfiles"
	ARMTypeDataflow             = "Microsoft.IoTOperations/instances/dataflowProfiles/dataflows"
)

// armBody builds {"extendedLocation": …, "properties": spec} with the CRD-only keys removed.
// The spec goes through encoding/json so the body has exactly the wire shape (json tags,
// omitempty) and is a plain map the ARM client can marshal or a schema validator can walk.
func armBody(spec any, customLocationID string, crdOnly ...string) map[string]any {
	props := map[string]any{}
	// Marshalling our own structs cannot fail: they hold only strings, numbers, slices, maps
	// of those and opaque maps that came from JSON.
	b, err := json.Marshal(spec)
	if err == nil {
		_ = json.Unmarshal(b, &props)
	}
	for _, k := range crdOnly {
		delete(props, k)
	}
	return map[string]any{
		"extendedLocation": map[string]any{"type": "CustomLocation", "name": customLocationID},
		"properties":       props,
	}
}

// ARMBody is the PUT body of this listener; brokerRef is CRD only.
func (o BrokerListener) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID, "brokerRef")
}

// ARMBody is the PUT body of this authentication.
func (o BrokerAuthentication) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID)
}

// ARMBody is the PUT body of this authorization.
func (o BrokerAuthorization) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID)
}

// ARMBody is the PUT body of this endpoint.
func (o DataflowEndpoint) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID)
}

// ARMBody is the PUT body of this profile.
func (o DataflowProfile) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID)
}

// ARMBody is the PUT body of this dataflow; profileRef is CRD only.
func (o Dataflow) ARMBody(customLocationID string) map[string]any {
	return armBody(o.Spec, customLocationID, "profileRef")
}

// ARMResource is one AIO resource ready for ARM: its type, name, the name of its parent
// within the instance (broker or dataflow profile; empty for instance children) and its body.
type ARMResource struct {
	Type   string
	Name   string
	Parent string // "default" broker for broker children, the profile for dataflows
	Body   map[string]any
}

// ARMResources lists the AIO resources of m in dependency order (authentications before the
// listeners that reference them, endpoints and profiles before dataflows). Kubernetes-only
// objects (secrets, config maps, SPCs, SecretSyncs, bundles) are not ARM resources here.
func (m *Manifests) ARMResources(customLocationID string) []ARMResource {
	var out []ARMResource
	for _, o := range m.Authentications {
		out = append(out, ARMResource{ARMTypeBrokerAuthentication, o.Metadata.Name, DefaultBroker, o.ARMBody(customLocationID)})
	}
	for _, o := range m.Authorizations {
		out = append(out, ARMResource{ARMTypeBrokerAuthorization, o.Metadata.Name, DefaultBroker, o.ARMBody(customLocationID)})
	}
	for _, o := range m.Listeners {
		parent := o.Spec.BrokerRef
		if parent == "" {
			parent = DefaultBroker
		}
		out = append(out, ARMResource{ARMTypeBrokerListener, o.Metadata.Name, parent, o.ARMBody(customLocationID)})
	}
	for _, o := range m.Endpoints {
		out = append(out, ARMResource{ARMTypeDataflowEndpoint, o.Metadata.Name, "", o.ARMBody(customLocationID)})
	}
	for _, o := range m.Profiles {
		out = append(out, ARMResource{ARMTypeDataflowProfile, o.Metadata.Name, "", o.ARMBody(customLocationID)})
	}
	for _, o := range m.Dataflows {
		parent := o.Spec.ProfileRef
		if parent == "" {
			parent = DefaultDataflowProfile
		}
		out = append(out, ARMResource{ARMTypeDataflow, o.Metadata.Name, parent, o.ARMBody(customLocationID)})
	}
	return out
}
