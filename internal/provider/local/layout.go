package local

import "path/filepath"

// Layout of the state directory (see docs/local.md):
//
//	local.json              deployment state (no secrets)
//	certs/                  the link's chains as `dualpeer certs` writes them (keys 0600), reused while the
//	                        server IP and mode hold; `dualpeer certs rotate` and `certs import` work on it;
//	                        certs/cluster-a, certs/cluster-b: each cluster's own AIO CA
//	client/                 what a mosquitto client needs to act as Cluster B (server-root-ca.crt, client.crt, client.key)
//	vault/a, vault/b        each cluster's local Key Vault: the eight secrets (0600)
//	clusters/a, clusters/b  what each cluster's Kubernetes API would hold: secrets/, configmaps/, manifests/,
//	                        plus the agent's data/, agent.sock, agent.pid and agent.log
//	scripts/                server-central.sh and client-technology.sh as rendered (0600: they embed keys)
type layout struct{ root string }

func (l layout) material() string            { return filepath.Join(l.root, "certs") }
func (l layout) clientDir() string           { return filepath.Join(l.root, "client") }
func (l layout) vault(cluster string) string { return filepath.Join(l.root, "vault", cluster) }
func (l layout) cluster(c string) string     { return filepath.Join(l.root, "clusters", c) }
func (l layout) scripts() string             { return filepath.Join(l.root, "scripts") }
func (l layout) agentSock(c string) string   { return filepath.Join(l.cluster(c), "agent.sock") }
func (l layout) agentPID(c string) string    { return filepath.Join(l.cluster(c), "agent.pid") }
func (l layout) agentLog(c string) string    { return filepath.Join(l.cluster(c), "agent.log") }

// generated lists everything `down` removes (the lock file stays: it may be held right now).
func (l layout) generated() []string {
	return []string{l.material(), l.clientDir(), filepath.Join(l.root, "vault"), filepath.Join(l.root, "clusters"), l.scripts()}
}
