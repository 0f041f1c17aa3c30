package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"text/tabwriter"
	"time"

	"github.com/modgate/modgate/internal/audit"
	"github.com/modgate/modgate/internal/auth"
	"github.com/modgate/modgate/internal/store"
	"github.com/modgate/modgate/web"
)

const tokenUsage = `usage:
  modgate token create --name NAME --role reader|auditor|admin
  modgate token list
  modgate token revoke NAME

create prints the new token once, on standard output; only its hash is kept.
Clients send it as the HTTP Basic password (GOPROXY=https://NAME:TOKEN@host,
or "machine host login NAME password TOKEN" in ~/.netrc). Roles: reader fetches
modules; auditor also reads the dashboard, audit log and SBOMs; admin also
reloads the policy and manages exemptions and tokens. Names are 1 to 64
letters, digits, '.', '_', '-' or '@', unique among live tokens. Every create
and revoke is recorded in the audit log; a revoked token stops working within
5 seconds on every replica.`

type tokenFlags struct {
	fs         *flag.FlagSet
	name, role string
}

// registerTokenFlags defines `modgate token`'s own flags; ownFlags returns it
// for "token".
func registerTokenFlags(fs *flag.FlagSet) any {
	f := &tokenFlags{fs: fs}
	fs.StringVar(&f.name, "name", "", "token create: the token's `name` (shown in audit records)")
	fs.StringVar(&f.role, "role", "", "token create: `role`: reader, auditor or admin")
	return f
}

// runToken runs `modgate token create|list|revoke`.
func runToken(ctx context.Context, e *env) error {
	f, _ := e.own.(*tokenFlags)
	if len(e.args) == 0 || f == nil {
		return &usageError{msg: tokenUsage}
	}
	sub := e.args[0]
	var bad error
	f.fs.Visit(func(fl *flag.Flag) {
		if (fl.Name == "name" || fl.Name == "role") && sub != "create" && bad == nil {
			bad = &usageError{msg: fmt.Sprintf("token %s does not take --%s\n%s", sub, fl.Name, tokenUsage)}
		}
	})
	if bad != nil {
		return bad
	}
	switch sub {
	case "create":
		if len(e.args) != 1 {
			return &usageError{msg: tokenUsage}
		}
		if f.name == "" || f.role == "" {
			return &usageError{msg: "token create needs --name and --role\n" + tokenUsage}
		}
		role, err := auth.ParseRole(f.role)
		if err != nil {
			return &usageError{msg: "--role: " + err.Error()}
		}
		if err := auth.CheckName(f.name); err != nil {
			return &usageError{msg: "--name: " + err.Error()}
		}
		return tokenCreate(ctx, e, f.name, role)
	case "list":
		if len(e.args) != 1 {
			return &usageError{msg: tokenUsage}
		}
		return tokenList(ctx, e)
	case "revoke":
		if len(e.args) != 2 {
			return &usageError{msg: tokenUsage}
		}
		return tokenRevoke(ctx, e, e.args[1])
	}
	return &usageError{msg: fmt.Sprintf("unknown token command %q\n%s", sub, tokenUsage)}
}

func tokenCreate(ctx context.Context, e *env, name string, role auth.Role) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, t, err := auth.CreateToken(ctx, st, st, name, role, "")
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("a live token is already named %q (modgate token list; revoke it first to reuse the name)", name)
	}
	if err != nil {
		return err
	}
	e.log.Info("token created", "token", t.Name, "role", t.Role, "prefix", t.Prefix)
	fmt.Fprintf(e.stderr, "token %q (%s) created; it is shown only this once, below. Use it as the HTTP Basic password.\n", t.Name, t.Role)
	fmt.Fprintln(e.stdout, secret)
	return nil
}

func tokenList(ctx context.Context, e *env) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.ListTokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tPREFIX\tCREATED\tLAST USED\tREVOKED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\tmgt_%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Prefix, tokenTime(t.CreatedAt, "-"),
			tokenTime(t.LastUsed, "never"), tokenTime(t.RevokedAt, "-"))
	}
	return tw.Flush()
}

func tokenTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func tokenRevoke(ctx context.Context, e *env, name string) error {
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := auth.RevokeToken(ctx, st, st, name, "")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no live token named %q (see modgate token list)", name)
	}
	if err != nil {
		return err
	}
	e.log.Info("token revoked", "token", t.Name, "role", t.Role)
	fmt.Fprintf(e.stdout, "token %q (%s) revoked\n", t.Name, t.Role)
	return nil
}

// tokenAdmin is the dashboard's token page ([web.Tokens]) on the store: the
// admin who acts is the identity in the request's context.
type tokenAdmin struct{ st store.Store }

var (
	_ web.Tokens   = tokenAdmin{}
	_ web.Sessions = (*auth.Authenticator)(nil) // serve passes its authenticator to the dashboard
)

func (a tokenAdmin) ListTokens(ctx context.Context) ([]web.Token, error) {
	list, err := a.st.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.Token
	for _, t := range list {
		if t.RevokedAt.IsZero() {
			out = append(out, web.Token{Name: t.Name, Role: auth.Role(t.Role), Created: t.CreatedAt, LastUsed: t.LastUsed})
		}
	}
	return out, nil
}

func (a tokenAdmin) CreateToken(ctx context.Context, name string, role auth.Role) (string, error) {
	id, _ := auth.FromContext(ctx)
	secret, _, err := auth.CreateToken(ctx, a.st, a.st, name, role, actor(id))
	return secret, err
}

func (a tokenAdmin) RevokeToken(ctx context.Context, name string) error {
	id, _ := auth.FromContext(ctx)
	_, err := auth.RevokeToken(ctx, a.st, a.st, name, actor(id))
	return err
}

// actor names who acts in an admin audit record.
func actor(id auth.Identity) string {
	if id.Token == "" {
		return "dashboard (authentication off)"
	}
	return id.Token
}

// newAuthenticator builds the authentication of `modgate serve` from the
// settings: --auth, TLS for Secure cookies, and --trusted-proxies for the
// address failures are counted against.
func newAuthenticator(cfg config, st store.Store, trusted []netip.Prefix, e *env) *auth.Authenticator {
	listen := cfg.Listen
	if host, _, err := net.SplitHostPort(listen); err == nil {
		listen = host
	}
	ip, err := netip.ParseAddr(listen)
	local := listen == "localhost" || err == nil && ip.IsLoopback()
	switch {
	case cfg.Auth == "off" && !local:
		e.log.Warn("--auth off on a non-loopback address: anyone who reaches modgate is admin; use --auth required", "listen", cfg.Listen)
	case cfg.Auth == "required" && cfg.TLSCert == "" && !local:
		e.log.Warn("--auth required without TLS: tokens cross the network in clear text unless a TLS proxy is in front (--tls-cert/--tls-key)", "listen", cfg.Listen)
	}
	return auth.New(auth.Options{
		Tokens:    st,
		Failures:  st, // the lockout is shared by every replica on st and survives restarts
		Required:  cfg.Auth == "required",
		Secure:    cfg.TLSCert != "",
		ClientIP:  func(r *http.Request) string { return audit.ClientIP(r, trusted) },
		LoginPath: "/ui/login",
		Logger:    e.log,
	})
}

// tlsConfig loads --tls-cert and --tls-key; nil without them.
func tlsConfig(cfg config) (*tls.Config, error) {
	if cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// serveOn serves srv on ln, over TLS when srv has a TLS configuration.
func serveOn(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}
