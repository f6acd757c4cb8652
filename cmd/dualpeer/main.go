// Command dualpeer stands up two peered edge clusters (locally or on Azure).
// main only wires: signal context → cli.Run → exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/dualpeer/dualpeer/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
