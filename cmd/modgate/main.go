// Command modgate is a Go module proxy that is an organisation's supply-chain
// security gate. Run "modgate help" for its subcommands and settings.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var x *exitError
		if !errors.Is(err, flag.ErrHelp) && !errors.As(err, &x) {
			fmt.Fprintln(os.Stderr, "modgate:", err)
		}
		os.Exit(exitCode(err))
	}
}
