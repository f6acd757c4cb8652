// Package e2e holds end-to-end tests that build the dualpeer binary and drive it as a user
// would: `up`, `exec`, `test`, `status`, `output`, `down`, on the local target. They need root
// (network namespaces) and skip with a message otherwise.
package e2e
