// Package cli is dualpeer's command tree: one file per verb, each building a cobra command
// from the shared App. Verbs parse flags and call into the library packages; they hold no logic
// of their own beyond wiring and rendering.
package cli
