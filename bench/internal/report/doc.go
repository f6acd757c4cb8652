// Package report turns the benchmark's measurements into the comparison table: one row per
// metric with dualpeer, Mosquitto, their ratio, which direction is better and the issue's
// target, printed as Markdown (the same text goes to the terminal and to BENCHMARKS.md).
//
// Rows aggregate repeated runs the way the table says: throughput and CPU per message are
// medians, lost and duplicated messages are sums over all runs, peak RSS is the largest.
package report
