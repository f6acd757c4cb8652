// Package lab drives dualpeer's local target for the benchmark: it builds the dualpeer binary
// from this checkout, runs `dualpeer up` and `dualpeer down` on a state directory (timing them),
// reads `dualpeer output -json`, and finds the agent processes inside the VM namespaces.
//
// It only ever runs dualpeer as a separate process: the benchmark measures exactly what a user
// runs, and it shares no state with the code under test.
package lab
