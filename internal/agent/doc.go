// Package agent is what runs inside each cluster's VM: one process hosting the cluster's MQTT
// broker and dataflow engine, configured from the cluster's AIO resources.
//
// The cluster directory is the local counterpart of the cluster's Kubernetes API:
//
//	manifests/*.yaml          AIO resources (BrokerListener, BrokerAuthentication, DataflowEndpoint, Dataflow…)
//	secrets/<name>/<key>      secrets (0600), e.g. broker-tls-cert/tls.crt
//	configmaps/<name>/<key>   config maps, e.g. client-ca/client_ca.pem
//	data/                     the broker's durable session and queue state
//	agent.sock                health (/healthz, /readyz), Prometheus /metrics and JSON /status
//
// The agent re-reads the directory every second and applies what changed (hot reload). It
// serves its API on a unix socket because sockets in the filesystem are reachable from the
// host's network namespace without sending a packet to a lab address.
//
// Local meaning of the AIO settings (documented in docs/local.md):
//   - serviceType ClusterIp binds 127.0.0.1 (cluster-internal); LoadBalancer and NodePort bind
//     every address of the VM (reachable across the peering, subject to the NSG);
//   - TLS Manual serves the named kubernetes.io/tls secret; TLS Automatic serves the secret
//     aio-broker-default-tls that the deployer issues from the cluster's AIO CA (cert-manager's role);
//   - authentication X509 requires a client certificate chaining to the config map named by
//     trustedClientCaCert; ServiceAccountToken has no token issuer locally and is honoured by
//     binding the listener to loopback only (only the cluster's own workloads reach it);
//   - a DataflowEndpoint whose host is the cluster's own broker (aio-broker, localhost) is read
//     in-process; any other host is dialled with the endpoint's TLS and X.509 settings.
package agent
