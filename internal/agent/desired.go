package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/dataflow"
)

// DefaultListenerSecret is the secret a TLS Automatic listener is served with locally.
const DefaultListenerSecret = "aio-broker-default-tls"

// Desired is the cluster directory translated into the broker's and the dataflow engine's
// configuration.
type Desired struct {
	Broker    broker.Config
	Dataflows []dataflow.Dataflow
}

// clusterDir reads one cluster directory.
type clusterDir struct {
	root       string
	listenHost string // bind address for LoadBalancer/NodePort listeners
}

func (c clusterDir) path(elem ...string) string {
	return filepath.Join(append([]string{c.root}, elem...)...)
}

// fingerprint changes when a file the agent reads is added, removed or rewritten. It only
// stats (this runs every second); a rewrite with the same bytes still triggers a reconcile,
// which then restarts nothing because the desired configuration compares equal.
func (c clusterDir) fingerprint() (string, error) {
	h := sha256.New()
	for _, sub := range []string{"manifests", "secrets", "configmaps"} {
		err := filepath.WalkDir(c.path(sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(c.root, p)
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00", rel, fi.Size(), fi.ModTime().UnixNano())
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c clusterDir) manifests() (*aio.Manifests, error) {
	files, err := filepath.Glob(c.path("manifests", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	all := &aio.Manifests{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		m, err := aio.ParseManifests(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		all.Append(m)
	}
	return all, nil
}

func (c clusterDir) secret(name, key string) ([]byte, error) {
	b, err := os.ReadFile(c.path("secrets", name, key))
	if err != nil {
		return nil, fmt.Errorf("secret %s key %s: %w (is it synced? see the deployer's log)", name, key, err)
	}
	return b, nil
}

// configMapPEM reads the named config map of the cluster as one PEM bundle.
func (c clusterDir) configMapPEM(name string) ([]byte, error) {
	b, err := ReadConfigMapPEM(c.path("configmaps", name))
	if err != nil {
		return nil, fmt.Errorf("config map %s: %w", name, err)
	}
	return b, nil
}

// ReadConfigMapPEM concatenates every key of a config map directory: each holds PEM (AIO reads
// CA config maps that way), and the key names differ between the setup script and the
// trust-manager Bundle.
func ReadConfigMapPEM(dir string) ([]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			out.WriteByte('\n')
		}
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("%s holds no data", dir)
	}
	return out.Bytes(), nil
}

// desired maps the cluster's resources to the runtime configuration. Every problem is
// reported; the caller keeps running the previous configuration when there are any.
func (c clusterDir) desired() (*Desired, error) {
	m, err := c.manifests()
	if err != nil {
		return nil, err
	}
	d := &Desired{Broker: broker.Config{DataDir: c.path("data", "broker")}}
	var errs []error
	auths := map[string]aio.BrokerAuthentication{}
	for _, a := range m.Authentications {
		auths[a.Metadata.Name] = a
	}
	for _, l := range m.Listeners {
		for _, p := range l.Spec.Ports {
			bl, err := c.listener(l, p, auths)
			if err != nil {
				errs = append(errs, fmt.Errorf("BrokerListener %s port %d: %w", l.Metadata.Name, p.Port, err))
				continue
			}
			d.Broker.Listeners = append(d.Broker.Listeners, bl)
		}
	}
	endpoints := map[string]aio.DataflowEndpoint{}
	for _, e := range m.Endpoints {
		endpoints[e.Metadata.Name] = e
	}
	localHosts := c.localHosts(m)
	for _, f := range m.Dataflows {
		if f.Spec.Mode == "Disabled" {
			continue
		}
		df, err := c.dataflow(f, endpoints, localHosts)
		if err != nil {
			errs = append(errs, fmt.Errorf("Dataflow %s: %w", f.Metadata.Name, err))
			continue
		}
		d.Dataflows = append(d.Dataflows, df)
	}
	return d, errors.Join(errs...)
}

func (c clusterDir) listener(l aio.BrokerListener, p aio.ListenerPort, auths map[string]aio.BrokerAuthentication) (broker.Listener, error) {
	host := c.listenHost
	if l.Spec.ServiceType == "" || strings.EqualFold(l.Spec.ServiceType, "ClusterIp") {
		host = "127.0.0.1" // cluster-internal
	}
	bl := broker.Listener{Name: fmt.Sprintf("%s:%d", l.Metadata.Name, p.Port), Auth: broker.AuthAnonymous}
	if p.TLS != nil {
		secret := DefaultListenerSecret
		switch p.TLS.Mode {
		case "Manual":
			if p.TLS.Manual == nil || p.TLS.Manual.SecretRef == "" {
				return bl, errors.New("TLS mode Manual without manual.secretRef: name the kubernetes.io/tls secret")
			}
			secret = p.TLS.Manual.SecretRef
		case "Automatic":
		default:
			return bl, fmt.Errorf("TLS mode %q is not known: use Automatic or Manual", p.TLS.Mode)
		}
		cert, err := c.secret(secret, aio.KeyTLSCert)
		if err != nil {
			return bl, err
		}
		key, err := c.secret(secret, aio.KeyTLSKey)
		if err != nil {
			return bl, err
		}
		bl.TLS = &broker.TLSConfig{CertPEM: cert, KeyPEM: key}
	}
	if ref := p.AuthenticationRef; ref != "" {
		a, ok := auths[ref]
		if !ok {
			return bl, fmt.Errorf("authenticationRef %q names no BrokerAuthentication", ref)
		}
		var x509ca string
		sat := false
		for _, m := range a.Spec.AuthenticationMethods {
			switch m.Method {
			case "X509":
				if m.X509Settings == nil || m.X509Settings.TrustedClientCaCert == "" {
					return bl, fmt.Errorf("BrokerAuthentication %s: X509 without x509Settings.trustedClientCaCert", ref)
				}
				x509ca = m.X509Settings.TrustedClientCaCert
			case "ServiceAccountToken":
				sat = true
			default:
				return bl, fmt.Errorf("BrokerAuthentication %s: method %q has no local implementation (X509 and ServiceAccountToken do)", ref, m.Method)
			}
		}
		switch {
		case x509ca != "":
			if bl.TLS == nil {
				return bl, errors.New("X509 authentication needs TLS on the port")
			}
			ca, err := c.configMapPEM(x509ca)
			if err != nil {
				return bl, err
			}
			bl.TLS.ClientCAPEM = ca
			bl.Auth = broker.AuthX509
		case sat:
			host = "127.0.0.1" // no token issuer locally: only in-cluster workloads may connect
		}
	}
	bl.Addr = net.JoinHostPort(host, strconv.Itoa(p.Port))
	return bl, nil
}

// localHosts are the host names that mean "this cluster's broker".
func (c clusterDir) localHosts(m *aio.Manifests) map[string]bool {
	hosts := map[string]bool{"localhost": true, "127.0.0.1": true, aio.DefaultServiceName: true}
	for _, l := range m.Listeners {
		if l.Spec.ServiceName != "" {
			hosts[l.Spec.ServiceName] = true
		}
	}
	return hosts
}

func (c clusterDir) endpoint(name string, endpoints map[string]aio.DataflowEndpoint, local map[string]bool) (dataflow.Endpoint, error) {
	e, ok := endpoints[name]
	if !ok {
		return dataflow.Endpoint{}, fmt.Errorf("endpointRef %q names no DataflowEndpoint", name)
	}
	if e.Spec.EndpointType != "Mqtt" || e.Spec.MqttSettings == nil {
		return dataflow.Endpoint{}, fmt.Errorf("DataflowEndpoint %s: type %q has no local implementation (Mqtt does)", name, e.Spec.EndpointType)
	}
	s := e.Spec.MqttSettings
	out := dataflow.Endpoint{Name: name, Host: s.Host, ClientIDPrefix: s.ClientIDPrefix, Retain: dataflow.RetainMode(s.Retain)}
	host, _, err := net.SplitHostPort(s.Host)
	if err != nil {
		host = s.Host
	}
	// "aio-broker.azure-iot-operations" and friends are this cluster's broker too.
	if local[host] || local[strings.SplitN(host, ".", 2)[0]] {
		out.Local = true
		return out, nil
	}
	if v := s.KeepAliveSeconds; v != nil {
		out.KeepAlive = time.Duration(*v) * time.Second
	}
	if v := s.MaxInflightMessages; v != nil {
		out.MaxInflight = *v
	}
	if v := s.QoS; v != nil {
		out.QoS = byte(*v)
	}
	if v := s.SessionExpirySeconds; v != nil {
		out.SessionExpiry = time.Duration(*v) * time.Second
	}
	if t := s.TLS; t != nil && t.Mode != "Disabled" {
		out.TLS = true
		if t.TrustedCaCertificateConfigMapRef != "" {
			if out.TrustedCAPEM, err = c.configMapPEM(t.TrustedCaCertificateConfigMapRef); err != nil {
				return out, fmt.Errorf("DataflowEndpoint %s: %w", name, err)
			}
		}
	}
	switch s.Authentication.Method {
	case "X509Certificate":
		x := s.Authentication.X509CertificateSettings
		if x == nil || x.SecretRef == "" {
			return out, fmt.Errorf("DataflowEndpoint %s: X509Certificate without x509CertificateSettings.secretRef", name)
		}
		cert, err := c.secret(x.SecretRef, aio.KeyClientCert)
		if err != nil {
			return out, fmt.Errorf("DataflowEndpoint %s: %w", name, err)
		}
		// The intermediate lets the server build the chain to the client root it trusts.
		if inter, err := c.secret(x.SecretRef, aio.KeyClientIntermediate); err == nil && !bytes.Contains(cert, bytes.TrimSpace(inter)) {
			cert = append(append(cert, '\n'), inter...)
		}
		if out.ClientKeyPEM, err = c.secret(x.SecretRef, aio.KeyClientKey); err != nil {
			return out, fmt.Errorf("DataflowEndpoint %s: %w", name, err)
		}
		out.ClientCertPEM = cert
	case "Anonymous", "":
	default:
		return out, fmt.Errorf("DataflowEndpoint %s: authentication %q has no local implementation (X509Certificate and Anonymous do)", name, s.Authentication.Method)
	}
	return out, nil
}

func (c clusterDir) dataflow(f aio.Dataflow, endpoints map[string]aio.DataflowEndpoint, local map[string]bool) (dataflow.Dataflow, error) {
	df := dataflow.Dataflow{Name: f.Metadata.Name}
	var src, dst bool
	for _, op := range f.Spec.Operations {
		switch op.OperationType {
		case aio.OperationSource:
			s := op.SourceSettings
			if s == nil {
				return df, errors.New("Source operation without sourceSettings")
			}
			ep, err := c.endpoint(s.EndpointRef, endpoints, local)
			if err != nil {
				return df, err
			}
			df.Source, df.SourceTopics, src = ep, s.DataSources, true
		case aio.OperationBuiltInTransformation:
			t := op.BuiltInTransformationSettings
			if t == nil {
				continue
			}
			for _, r := range t.Filter {
				df.Filter = append(df.Filter, dataflow.FilterRule{Inputs: r.Inputs, Expression: r.Expression})
			}
			for _, r := range t.Map {
				df.Map = append(df.Map, dataflow.MapRule{Type: r.Type, Inputs: r.Inputs, Output: r.Output})
			}
		case aio.OperationDestination:
			s := op.DestinationSettings
			if s == nil {
				return df, errors.New("Destination operation without destinationSettings")
			}
			ep, err := c.endpoint(s.EndpointRef, endpoints, local)
			if err != nil {
				return df, err
			}
			df.Destination, df.DestinationTopic, dst = ep, s.DataDestination, true
		default:
			return df, fmt.Errorf("operation type %q is not known", op.OperationType)
		}
	}
	if !src || !dst {
		return df, errors.New("a dataflow needs one Source and one Destination operation")
	}
	return df, nil
}
