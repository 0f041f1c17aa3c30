package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modgate/modgate/internal/policy"
)

const policyUsage = `usage:
  modgate policy check FILE
  modgate policy reload [--server URL]

check validates a policy file (see README "Policy") and prints what it does;
it exits 1 with FILE:LINE and what was expected when the file is bad.
reload asks a running modgate (default: http://--listen) to read its --policy
file again (POST /api/policy/reload) and prints its answer; a bad file is
refused and the old policy stays in force. Sending the server SIGHUP does the
same.`

type policyFlags struct {
	fs     *flag.FlagSet
	server string
}

// registerPolicyFlags defines `modgate policy`'s own flags on the command's
// flag set; ownFlags returns it for "policy".
func registerPolicyFlags(fs *flag.FlagSet) any {
	f := &policyFlags{fs: fs}
	fs.StringVar(&f.server, "server", "", "policy reload: the running modgate's base `URL` (default: http:// and --listen)")
	return f
}

// runPolicy runs `modgate policy check|reload`.
func runPolicy(ctx context.Context, e *env) error {
	f, _ := e.own.(*policyFlags)
	if len(e.args) == 0 || f == nil {
		return &usageError{msg: policyUsage}
	}
	switch e.args[0] {
	case "check":
		if len(e.args) != 2 || f.server != "" {
			return &usageError{msg: policyUsage}
		}
		return policyCheck(e, e.args[1])
	case "reload":
		if len(e.args) != 1 {
			return &usageError{msg: policyUsage}
		}
		server := f.server
		if server == "" {
			server = "http://" + e.cfg.Listen
			if e.cfg.TLSCert != "" {
				server = "https://" + e.cfg.Listen
			}
		}
		return policyReload(ctx, e, server)
	}
	return &usageError{msg: fmt.Sprintf("unknown policy command %q\n%s", e.args[0], policyUsage)}
}

func policyCheck(e *env, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	p, err := policy.Parse(file, data)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s\n", p.Summary())
	return nil
}

func policyReload(ctx context.Context, e *env, server string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(server, "/") + "/api/policy/reload"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("policy reload: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("policy reload: reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("policy reload: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = e.stdout.Write(body)
	return err
}
