// Package dashboard serves one self-contained web page (HTML, CSS and JS embedded; no CDN) that
// shows a running deployment live: the topology picture with live state, each agent's health,
// message rates through the dataflow, queue depths, certificate expiry dates and the peering
// state. The page polls a JSON endpoint every second.
//
// Data comes from a Source the caller implements (the CLI builds one from agent status, the
// network lab and the PKI); the handler only samples it, derives rates from counters and renders.
// It is meant to listen on a loopback address only: it has no authentication, so it also rejects
// requests whose Host header is not a loopback name (a DNS-rebinding guard).
package dashboard
