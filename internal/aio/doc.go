// Package aio is the typed model of the Azure IoT Operations MQTT resources the spec uses
// (BrokerListener, BrokerAuthentication, BrokerAuthorization, DataflowEndpoint,
// DataflowProfile, Dataflow) and of the Kubernetes objects around them (Secret, ConfigMap,
// SecretProviderClass, SecretSync, trust-manager Bundle).
//
// One struct serves both wire formats: the JSON tags are the camelCase field names of the
// Microsoft.IoTOperations 2025-04-01 REST schema, which are also the field names of the
// in-cluster custom resources, so a resource's ARM "properties" and its CRD "spec" are the
// same value. The few fields that exist only in the CRD (a listener's brokerRef, a dataflow's
// profileRef: on ARM the parent resource id carries them) are dropped by ARMBody.
//
// Three renderers share the model:
//   - ARMBody: the JSON body of a PUT to ARM (properties + extendedLocation);
//   - Manifests.YAML: multi-document Kubernetes YAML, the bytes the setup scripts embed and
//     the local agent reads back with ParseManifests;
//   - the local agent configures its broker and dataflow engine from the parsed Manifests.
//
// ServerResources and ClientResources build the spec's resources for Cluster A (the MQTT
// server, "server central") and Cluster B (the MQTT client, "client technology") from a small
// LinkParams value; the package deliberately does not import the blueprint configuration.
//
// Secret data is key material: Secret's String and GoString print only the key names, so a
// Secret (or a Manifests holding one) can be logged without leaking keys.
package aio
