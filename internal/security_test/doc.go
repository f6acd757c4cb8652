// Package securitytest holds end-to-end security tests (issue 7) that drive the real dualpeer
// binary and packages: no private key or secret may appear in anything dualpeer prints (plan,
// validate, certs, state listings, logs, errors), and key files must be 0600. The tests build
// the CLI with `go build` into a temporary directory.
//
// Its only non-test code is the key scanner (keyscan.go), which the fault tests in faults/ use
// for the same check on `dualpeer up` / `status` / `output` / `down`.
package securitytest
