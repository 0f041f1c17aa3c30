package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modgate/modgate/internal/policy"
	"github.com/modgate/modgate/internal/store"
)

// policyHolder keeps the policy in force and reloads it from its file: on
// SIGHUP, on POST /api/policy/reload, and when the file changes (polled). A
// file that does not parse at reload is refused and the old policy stays in
// force; both outcomes are logged and audited.
type policyHolder struct {
	file    string // "" for the default policy
	log     *slog.Logger
	auditor interface{ Log(*store.AuditEvent) }

	cur     atomic.Pointer[policy.Policy]
	mu      sync.Mutex // serialises reloads
	modTime time.Time
	size    int64
}

// loadPolicy reads the policy at start: a bad file is an error that stops the
// server.
func loadPolicy(file string, log *slog.Logger, auditor interface{ Log(*store.AuditEvent) }) (*policyHolder, error) {
	h := &policyHolder{file: file, log: log, auditor: auditor}
	if file == "" {
		h.cur.Store(policy.Default())
		return h, nil
	}
	p, fi, err := readPolicy(file)
	if err != nil {
		return nil, err
	}
	h.cur.Store(p)
	h.modTime, h.size = fi.ModTime(), fi.Size()
	log.Info("policy loaded", "file", file, "mode", p.Mode)
	return h, nil
}

func readPolicy(file string) (*policy.Policy, os.FileInfo, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy: %w", err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy: %w", err)
	}
	p, err := policy.Parse(file, data)
	if err != nil {
		return nil, nil, err
	}
	p.Loaded = time.Now().UTC()
	return p, fi, nil
}

// Current is the policy in force.
func (h *policyHolder) Current() *policy.Policy { return h.cur.Load() }

// Reload reads the file again. On error the old policy stays in force.
func (h *policyHolder) Reload(why string) (*policy.Policy, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file == "" {
		return h.Current(), errors.New("no --policy file: the default policy is in force")
	}
	p, fi, err := readPolicy(h.file)
	e := &store.AuditEvent{Type: store.AuditAdmin, Module: "", Reasons: []string{"policy reload (" + why + ") from " + h.file}}
	if err != nil {
		h.log.Error("policy reload refused; the old policy stays in force", "file", h.file, "why", why, "err", err.Error())
		e.Decision, e.Reasons = "policy reload refused", append(e.Reasons, err.Error())
		h.auditor.Log(e)
		return h.Current(), err
	}
	h.cur.Store(p)
	h.modTime, h.size = fi.ModTime(), fi.Size()
	h.log.Info("policy reloaded", "file", h.file, "why", why, "mode", p.Mode)
	e.Decision = "policy reloaded"
	h.auditor.Log(e)
	return p, nil
}

// watch reloads on SIGHUP and when the file's modification time or size
// changes, until ctx is done.
func (h *policyHolder) watch(ctx context.Context, poll time.Duration) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			h.Reload("SIGHUP")
		case <-t.C:
			if h.file == "" {
				continue
			}
			fi, err := os.Stat(h.file)
			h.mu.Lock()
			changed := err == nil && (!fi.ModTime().Equal(h.modTime) || fi.Size() != h.size)
			h.mu.Unlock()
			if changed {
				h.Reload("file changed")
			}
		}
	}
}

// ServeHTTP answers GET /api/policy (the policy in force) and POST
// /api/policy/reload.
func (h *policyHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	p := h.Current()
	if r.Method == http.MethodPost {
		var err error
		if p, err = h.Reload("API"); err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprintf(w, "reload refused; the old policy stays in force:\n%v\n", err)
			return
		}
		fmt.Fprintln(w, "policy reloaded")
	}
	loaded := "at start"
	if !p.Loaded.IsZero() {
		loaded = p.Loaded.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "%s\nloaded: %s\n", p.Summary(), loaded)
}
