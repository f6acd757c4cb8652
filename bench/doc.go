// Command bench measures dualpeer's link B → A side by side with Eclipse Mosquitto's bridge,
// on the same host, in the same network namespaces, with the same certificates (issue 9).
//
//	sudo go run ./bench                 # full run: writes BENCHMARKS.md
//	sudo go run ./bench -rounds 2       # the full table twice, as BENCHMARKS.md shows it
//	sudo go run ./bench -quick          # smoke run: small counts, < 60 s, writes nothing
//
// It builds dualpeer from this checkout, brings the lab up with `dualpeer up` (timed, on a fresh
// state directory), starts the reference Mosquitto brokers (bench/mosquitto) on other ports in
// the same VM namespaces while dualpeer's agents stay up and idle, and drives both paths with
// the same load generator (bench/internal/loadgen), run as child processes of this binary inside
// the namespaces (`bench pub`, `bench sub`: internal subcommands). See docs/benchmarks.md.
package main
