// Package local is the local target: it executes a deployment on this host with network
// namespaces (netlab), the local Key Vault directory, the secret-sync semantics of the setup
// scripts, and one `dualpeer agent` per cluster VM. State lives in the state directory and is
// saved before anything is created, so `down` always finds what a crashed `up` left behind.
package local
