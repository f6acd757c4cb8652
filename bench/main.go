package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dualpeer/dualpeer/bench/internal/standin"
	"github.com/dualpeer/dualpeer/bench/internal/workload"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches the internal child subcommands and the benchmark itself; it prints an error
// once and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "pub":
		err = workload.PubMain(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "standin":
		err = standin.Main(ctx, args[1:], stdout, stderr)
	case len(args) > 0 && args[0] == "sub":
		err = workload.SubMain(ctx, args[1:], stdin, stdout, stderr)
	default:
		var o options
		if o, err = parseOptions(args, stderr); err == nil {
			err = benchmark(ctx, o, stdout, stderr)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}
