// Package graph is the topology picture of a deployment: a view model built from the blueprint
// configuration (two VNets, their subnets and VMs, the peering and its settings, A's broker
// listeners, B's dataflow to A, and which root CA each side trusts), optionally overlaid with live
// state, and three renderers for it: SVG drawn by dualpeer itself (no Graphviz needed), Graphviz
// DOT for those who have it, and Mermaid for Markdown.
//
// The model is plain data so the CLI, the dashboard and the docs all draw the same picture; every
// renderer is deterministic (same model, same bytes) so the pictures under docs/ can be checked
// for staleness by a test.
package graph
