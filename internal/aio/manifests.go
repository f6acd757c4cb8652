package aio

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// Manifests is a set of objects for one cluster, grouped by kind. The order inside each
// group is kept: it is the order in which the objects are rendered and applied.
type Manifests struct {
	Listeners             []BrokerListener
	Authentications       []BrokerAuthentication
	Authorizations        []BrokerAuthorization
	Endpoints             []DataflowEndpoint
	Profiles              []DataflowProfile
	Dataflows             []Dataflow
	Secrets               []Secret
	ConfigMaps            []ConfigMap
	SecretProviderClasses []SecretProviderClass
	SecretSyncs           []SecretSync
	Bundles               []Bundle
}

// Len is the number of objects.
func (m *Manifests) Len() int {
	return len(m.Listeners) + len(m.Authentications) + len(m.Authorizations) + len(m.Endpoints) +
		len(m.Profiles) + len(m.Dataflows) + len(m.Secrets) + len(m.ConfigMaps) +
		len(m.SecretProviderClasses) + len(m.SecretSyncs) + len(m.Bundles)
}

// Append adds every object of o after m's own, kind by kind (e.g. to merge the files of a
// manifests directory read one by one).
func (m *Manifests) Append(o *Manifests) {
	m.Listeners = append(m.Listeners, o.Listeners...)
	m.Authentications = append(m.Authentications, o.Authentications...)
	m.Authorizations = append(m.Authorizations, o.Authorizations...)
	m.Endpoints = append(m.Endpoints, o.Endpoints...)
	m.Profiles = append(m.Profiles, o.Profiles...)
	m.Dataflows = append(m.Dataflows, o.Dataflows...)
	m.Secrets = append(m.Secrets, o.Secrets...)
	m.ConfigMaps = append(m.ConfigMaps, o.ConfigMaps...)
	m.SecretProviderClasses = append(m.SecretProviderClasses, o.SecretProviderClasses...)
	m.SecretSyncs = append(m.SecretSyncs, o.SecretSyncs...)
	m.Bundles = append(m.Bundles, o.Bundles...)
}

// String summarises the objects by kind and name; it never prints secret data.
func (m *Manifests) String() string {
	var b strings.Builder
	for _, o := range m.objects() {
		fmt.Fprintf(&b, "%s %s\n", o.kind, o.name)
	}
	return b.String()
}

// WithoutCoreObjects returns a copy without Secrets and ConfigMaps. The setup scripts create
// those from the embedded certificate files (kubectl create secret/configmap) and apply the
// rest, so key material is embedded once.
func (m *Manifests) WithoutCoreObjects() *Manifests {
	c := *m
	c.Secrets, c.ConfigMaps = nil, nil
	return &c
}

type object struct {
	kind, name string
	value      any
}

// objects lists every object in the rendering order: things that are referenced come first
// (secrets and config maps, then Key Vault sync objects, authentications before listeners,
// endpoints and profiles before dataflows), which is also a valid kubectl apply order.
func (m *Manifests) objects() []object {
	var out []object
	add := func(kind string, name ObjectMeta, v any) {
		n := name.Name
		if name.Namespace != "" {
			n = name.Namespace + "/" + n
		}
		out = append(out, object{kind, n, v})
	}
	for _, o := range m.Secrets {
		add(KindSecret, o.Metadata, o)
	}
	for _, o := range m.ConfigMaps {
		add(KindConfigMap, o.Metadata, o)
	}
	for _, o := range m.SecretProviderClasses {
		add(KindSecretProviderClass, o.Metadata, o)
	}
	for _, o := range m.SecretSyncs {
		add(KindSecretSync, o.Metadata, o)
	}
	for _, o := range m.Bundles {
		add(KindBundle, o.Metadata, o)
	}
	for _, o := range m.Authentications {
		add(KindBrokerAuthentication, o.Metadata, o)
	}
	for _, o := range m.Authorizations {
		add(KindBrokerAuthorization, o.Metadata, o)
	}
	for _, o := range m.Listeners {
		add(KindBrokerListener, o.Metadata, o)
	}
	for _, o := range m.Endpoints {
		add(KindDataflowEndpoint, o.Metadata, o)
	}
	for _, o := range m.Profiles {
		add(KindDataflowProfile, o.Metadata, o)
	}
	for _, o := range m.Dataflows {
		add(KindDataflow, o.Metadata, o)
	}
	return out
}

// YAML renders all objects as one multi-document Kubernetes YAML stream, in a stable order
// (see objects). Keys inside each document are sorted (sigs.k8s.io/yaml), so the bytes depend
// only on the content.
func (m *Manifests) YAML() ([]byte, error) {
	var buf bytes.Buffer
	for i, o := range m.objects() {
		b, err := yaml.Marshal(o.value)
		if err != nil {
			return nil, fmt.Errorf("render %s %s as YAML: %w", o.kind, o.name, err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(b)
	}
	return buf.Bytes(), nil
}

// ParseManifests reads a multi-document YAML stream (as written by YAML or by hand, "---"
// separated; empty documents are skipped). Fields are checked strictly: an unknown or
// misspelt field is an error, as are unknown kinds and an apiVersion that does not belong to
// the kind. Errors name the 1-based document number so a user can find the document.
func ParseManifests(data []byte) (*Manifests, error) {
	m := &Manifests{}
	for i, doc := range splitDocuments(data) {
		n := i + 1
		if isEmptyDocument(doc) {
			continue
		}
		if err := m.parseDocument(doc); err != nil {
			return nil, fmt.Errorf("manifest document %d: %w", n, err)
		}
	}
	return m, nil
}

type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// wantAPIVersion maps each supported kind to the apiVersion it must carry.
var wantAPIVersion = map[string]string{
	KindBrokerListener:       APIVersionBroker,
	KindBrokerAuthentication: APIVersionBroker,
	KindBrokerAuthorization:  APIVersionBroker,
	KindDataflowEndpoint:     APIVersionConnectivity,
	KindDataflowProfile:      APIVersionConnectivity,
	KindDataflow:             APIVersionConnectivity,
	KindSecret:               APIVersionCore,
	KindConfigMap:            APIVersionCore,
	KindSecretProviderClass:  APIVersionSecretProviderClass,
	KindSecretSync:           APIVersionSecretSync,
	KindBundle:               APIVersionBundle,
}

func (m *Manifests) parseDocument(doc []byte) error {
	var tm typeMeta
	// Non-strict here: only apiVersion and kind are wanted; the strict decode below checks
	// every field against the kind's type.
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object (need apiVersion and kind at the top level): %w", err)
	}
	if tm.Kind == "" {
		return fmt.Errorf("no kind: every document needs apiVersion and kind")
	}
	want, ok := wantAPIVersion[tm.Kind]
	if !ok {
		return fmt.Errorf("unsupported kind %q (apiVersion %q): dualpeer understands %s",
			tm.Kind, tm.APIVersion, supportedKinds())
	}
	if tm.APIVersion != want {
		return fmt.Errorf("kind %s has apiVersion %q, want %q", tm.Kind, tm.APIVersion, want)
	}
	var name string
	var err error
	switch tm.Kind {
	case KindBrokerListener:
		name, err = parseInto(doc, &m.Listeners, func(o *BrokerListener) string { return o.Metadata.Name })
	case KindBrokerAuthentication:
		name, err = parseInto(doc, &m.Authentications, func(o *BrokerAuthentication) string { return o.Metadata.Name })
	case KindBrokerAuthorization:
		name, err = parseInto(doc, &m.Authorizations, func(o *BrokerAuthorization) string { return o.Metadata.Name })
	case KindDataflowEndpoint:
		name, err = parseInto(doc, &m.Endpoints, func(o *DataflowEndpoint) string { return o.Metadata.Name })
	case KindDataflowProfile:
		name, err = parseInto(doc, &m.Profiles, func(o *DataflowProfile) string { return o.Metadata.Name })
	case KindDataflow:
		name, err = parseInto(doc, &m.Dataflows, func(o *Dataflow) string { return o.Metadata.Name })
	case KindSecret:
		name, err = parseInto(doc, &m.Secrets, func(o *Secret) string {
			// stringData is write-only in Kubernetes: merged into data, its keys win.
			if len(o.StringData) > 0 {
				if o.Data == nil {
					o.Data = map[string][]byte{}
				}
				for k, v := range o.StringData {
					o.Data[k] = []byte(v)
				}
				o.StringData = nil
			}
			return o.Metadata.Name
		})
	case KindConfigMap:
		name, err = parseInto(doc, &m.ConfigMaps, func(o *ConfigMap) string { return o.Metadata.Name })
	case KindSecretProviderClass:
		name, err = parseInto(doc, &m.SecretProviderClasses, func(o *SecretProviderClass) string { return o.Metadata.Name })
	case KindSecretSync:
		name, err = parseInto(doc, &m.SecretSyncs, func(o *SecretSync) string { return o.Metadata.Name })
	case KindBundle:
		name, err = parseInto(doc, &m.Bundles, func(o *Bundle) string { return o.Metadata.Name })
	}
	if err != nil {
		return fmt.Errorf("kind %s: %w", tm.Kind, err)
	}
	if name == "" {
		return fmt.Errorf("kind %s has no metadata.name", tm.Kind)
	}
	return nil
}

// parseInto decodes doc strictly into a new T, lets finish normalise it and return its
// name, and appends it to dst.
func parseInto[T any](doc []byte, dst *[]T, finish func(*T) string) (string, error) {
	var o T
	if err := yaml.UnmarshalStrict(doc, &o); err != nil {
		// The decoder names the offending field or line, never a field's value, so secret
		// data cannot leak through this message.
		return "", fmt.Errorf("%w (dualpeer rejects unknown fields and wrong types: fix or remove the field named here)", err)
	}
	name := finish(&o)
	*dst = append(*dst, o)
	return name, nil
}

func supportedKinds() string {
	return strings.Join([]string{
		KindBrokerListener, KindBrokerAuthentication, KindBrokerAuthorization,
		KindDataflowEndpoint, KindDataflowProfile, KindDataflow,
		KindSecret, KindConfigMap, KindSecretProviderClass, KindSecretSync, KindBundle,
	}, ", ")
}

// splitDocuments splits a YAML stream at "---" lines (a line that is exactly "---", with
// optional trailing spaces or a comment), which is how kubectl splits manifests.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimRight(line, " \t\r")
		if t == "---" || strings.HasPrefix(t, "--- #") {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	docs = append(docs, append([]byte(nil), cur.Bytes()...))
	return docs
}

func isEmptyDocument(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}
