// Package linkprof profiles dualpeer's link B → A without the lab: Cluster A's broker (X.509
// listener on 127.0.0.1), Cluster B's broker (anonymous listener) and B's dataflow engine
// (source = B's broker in-process, destination = A over mutual TLS) all run in the test
// process, wired exactly as the agents wire them, and the benchmark's load generator drives
// them over loopback. Everything is in one process, so one CPU or allocation profile shows
// where a message's cost goes:
//
//	go test -run '^$' -bench Link -benchtime 50000x -cpuprofile cpu.out ./bench/internal/linkprof
//	go tool pprof -top bench/internal/linkprof/linkprof.test cpu.out
//
// It is a profiling aid for the broker and dataflow owners; the comparison with Mosquitto
// is `go run ./bench` (the agents as real processes in the lab).
package linkprof
