// Package securitytest holds end-to-end security tests (issue 7) that drive the real dualpeer
// binary and packages: no private key or secret may appear in anything dualpeer prints (plan,
// validate, certs, state listings, logs, errors), and key files must be 0600. It has no
// non-test code beyond this comment; the tests build the CLI with `go build` into a temporary
// directory.
package securitytest
