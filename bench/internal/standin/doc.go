// Package standin runs dualpeer's runtime — internal/broker and internal/dataflow, wired as
// the agents wire them — inside a lab the benchmark builds itself with internal/netlab and
// certificates from internal/pki. It exists for `go run ./bench -standin`: measuring the link
// B → A against Mosquitto before (or without) `dualpeer up`, the local target.
//
// What it does not measure: the agent's own glue (manifest loading, metrics and health
// endpoints, secret sync) and `dualpeer up`/`down` themselves; its up time is netlab.Apply +
// certificate generation + starting the two processes + a first message, and is labelled so.
//
// Each cluster's runtime is a child process of the benchmark binary (`bench standin -role a|b`)
// started in that cluster's VM namespace with `ip netns exec`, so its CPU time and memory are
// measured per side exactly as the agents' would be.
package standin
