// Package scripts renders the spec's two setup scripts: server-central.sh for Cluster A
// (the MQTT server) and client-technology.sh for Cluster B (the MQTT client).
//
// Each script is self-contained bash, as the spec describes: the certificate files and the
// Kubernetes manifests are embedded base64-encoded; at run time they are decoded into a
// private temporary directory (umask 077, removed by an EXIT trap even on failure), the
// secret and config map are created with kubectl, and the AIO manifests are applied. Every
// kubectl step is idempotent (`kubectl create … --dry-run=client -o yaml | kubectl apply -f -`
// and `kubectl apply`), so running a script twice changes nothing the second time.
//
// SECURITY: a rendered script contains private keys (the server key in server-central.sh,
// the client key in client-technology.sh). Whoever writes it to disk must create the file
// with mode 0600 and never log or print it. On Azure it becomes the source of a VM run
// command, readable by anyone who may read that resource: keep it out of plan output and
// state listings.
package scripts
