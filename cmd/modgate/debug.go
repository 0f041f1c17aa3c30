package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// validDebugListen checks --debug-listen: empty (off) or a host:port that is
// not --listen's (the profiles must never be served on the main listener).
func validDebugListen(addr, listen string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %q: want host:port (localhost:6060): %v", addr, err)
	}
	if addr == listen && port != "0" { // port 0: each listener gets its own

		return fmt.Errorf("--debug-listen %q: must differ from --listen: the profiles are never served on the main listener", addr)
	}
	return nil
}

// debugHandler serves net/http/pprof's pages. It is its own mux, so nothing
// registered on http.DefaultServeMux is exposed.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index) // and the named profiles: heap, goroutine, allocs, ...
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// startDebug serves the profiles on addr until ctx is done. It returns once
// the listener is open (an address in use fails the start).
func startDebug(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen: %w", err)
	}
	// A CPU profile or trace runs for its ?seconds= (30 by default).
	srv := &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 30 * time.Second}
	log.Info("debug listening (net/http/pprof at /debug/pprof/)", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug listener failed", "err", err.Error())
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return nil
}
