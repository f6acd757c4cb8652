// Package progress shows long work as steps people can follow, in the manner of kind's status
// lines: on a terminal a spinner with the elapsed time that turns into ✓ or ✗ when the step ends;
// elsewhere (CI logs, files, pipes) plain timestamped lines, because carriage returns and escape
// codes only garble a log. -q keeps only failures and errors; -v adds debug lines.
//
// A Progress is safe for concurrent use: steps may run in parallel (DAG-parallel applies), and
// every line is written whole.
package progress
