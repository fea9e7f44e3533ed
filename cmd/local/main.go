// Command local is `make run`: the whole stack on 127.0.0.1 (see package
// devstack).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cardocr/cardocr/shared/devstack"
	"github.com/cardocr/cardocr/shared/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Photos come about a second after a submission, as the documents say
	// they may: the local stack shows the same.
	opt := devstack.Options{Emulator: emulator.Config{PhotoDelay: time.Second}, Web: webHandler(), Getenv: getenv}
	if err := devstack.Run(ctx, opt); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// getenv is the environment with make run's defaults: callbacks go to the
// stack's own receiver, which the console lists (CALLBACK_URL=local).
func getenv(k string) string {
	if v := os.Getenv(k); v != "" || k != "CALLBACK_URL" {
		return v
	}
	return "local"
}
