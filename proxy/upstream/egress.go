package upstream

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/module"
)

// hostRules says which hosts an outbound connection may reach. It is parsed
// from a comma-separated list (spaces around commas are ignored) of:
//
//   - the keyword "public": any host whose address is public, that is not
//     loopback, private (RFC 1918, IPv6 unique local), link-local,
//     carrier-grade NAT, documentation, reserved or an IPv6 form that embeds
//     one of those;
//   - an IP address or CIDR prefix ("127.0.0.1", "10.1.0.0/16"): connections
//     to addresses inside it;
//   - a GOPRIVATE-syntax glob of host names ("git.corp.example",
//     "*.corp.example"), matched with module.MatchPrefixPatterns against the
//     host name being dialed: connections to that name, wherever it
//     resolves (the operator trusts their own DNS for names they list).
//
// Whatever the list says, unspecified, multicast and broadcast addresses and
// the cloud metadata endpoints are refused.
type hostRules struct {
	public   bool
	prefixes []netip.Prefix
	globs    string // for module.MatchPrefixPatterns
}

// parseHostRules parses s; setting names the setting in errors.
func parseHostRules(setting, s string) (*hostRules, error) {
	r := &hostRules{}
	var globs []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			continue
		case p == "public":
			r.public = true
			continue
		}
		if pfx, err := netip.ParsePrefix(p); err == nil {
			r.prefixes = append(r.prefixes, pfx.Masked())
			continue
		}
		if a, err := netip.ParseAddr(p); err == nil {
			r.prefixes = append(r.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(p, "/:[]") {
			return nil, fmt.Errorf("%s: %q is neither a host name pattern, an IP address, a CIDR prefix nor \"public\"", setting, p)
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", setting, p, err)
		}
		globs = append(globs, strings.ToLower(p))
	}
	r.globs = strings.Join(globs, ",")
	return r, nil
}

// listed reports whether host (a name or an IP literal, no port) is named
// by the rules, without resolving it: an IP literal by a prefix, a name by
// a glob.
func (r *hostRules) listed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if neverAllowed(a) != "" {
			return false
		}
		for _, p := range r.prefixes {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return r.globs != "" && module.MatchPrefixPatterns(r.globs, host)
}

// refusedError is a connection modgate refused to open because the operator
// did not allow its target.
type refusedError struct {
	Setting string // the setting that would allow it
	Host    string // the name or address asked for
	Addr    netip.Addr
	Reason  string // "a loopback address", ...
}

func (e *refusedError) Error() string {
	target := e.Host
	if e.Addr.IsValid() && e.Addr.String() != e.Host {
		target += " (" + e.Addr.String() + ")"
	}
	if e.Setting == "" {
		return fmt.Sprintf("modgate refused to connect to %s: %s, which is never allowed", target, e.Reason)
	}
	return fmt.Sprintf("modgate refused to connect to %s: %s, not allowed by the operator's %s setting", target, e.Reason, e.Setting)
}

// metadataAddrs are cloud instance metadata endpoints: AWS, GCP, Azure,
// OpenStack (169.254.169.254), AWS ECS task metadata (169.254.170.2), AWS
// over IPv6 (fd00:ec2::254), Alibaba Cloud (100.100.100.200).
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("169.254.170.2"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// Address ranges that are not public besides what netip.Addr's methods name.
var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	nonPublicV4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),    // documentation
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"), // documentation
		netip.MustParsePrefix("203.0.113.0/24"),  // documentation
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	}
	nonPublicV6 = []netip.Prefix{
		netip.MustParsePrefix("::/96"),         // IPv4-compatible (deprecated)
		netip.MustParsePrefix("100::/64"),      // discard
		netip.MustParsePrefix("2001::/32"),     // Teredo: hides an IPv4 address
		netip.MustParsePrefix("2001:db8::/32"), // documentation
	}
	// IPv6 prefixes that embed an IPv4 address in their low (NAT64) or
	// second-to-fourth bytes (6to4): public only if that address is.
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// neverAllowed returns why a is refused whatever the rules say, or "".
func neverAllowed(a netip.Addr) string {
	for _, m := range metadataAddrs {
		if a == m {
			return "a cloud metadata address"
		}
	}
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return "an unspecified address"
	case a.IsMulticast():
		return "a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}

// nonPublic returns what kind of non-public address a is, or "" for a
// public address.
func nonPublic(a netip.Addr) string {
	a = a.Unmap()
	if why := neverAllowed(a); why != "" {
		return why
	}
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address"
	case cgnat.Contains(a):
		return "a carrier-grade NAT address"
	}
	reserved := nonPublicV6
	if a.Is4() {
		reserved = nonPublicV4
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return "a reserved address"
		}
	}
	if a.Is6() {
		b := a.As16()
		var embedded netip.Addr
		switch {
		case nat64.Contains(a):
			embedded = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case sixTo4.Contains(a):
			embedded = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if embedded.IsValid() {
			if why := nonPublic(embedded); why != "" {
				return why + " embedded in an IPv6 address"
			}
		}
	}
	return ""
}

// check returns nil if a connection to host, resolved to a, is allowed.
// host is the name or address literal the connection was asked for.
func (r *hostRules) check(setting, host string, a netip.Addr) error {
	a = a.Unmap()
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if why := neverAllowed(a); why != "" {
		return &refusedError{Host: host, Addr: a, Reason: why}
	}
	for _, p := range r.prefixes {
		if p.Contains(a) {
			return nil
		}
	}
	if _, err := netip.ParseAddr(host); err != nil && r.globs != "" && module.MatchPrefixPatterns(r.globs, host) {
		return nil
	}
	why := nonPublic(a)
	if why == "" {
		if r.public {
			return nil
		}
		why = "a host not listed"
	}
	return &refusedError{Setting: setting, Host: host, Addr: a, Reason: why}
}

// egressDialer opens TCP connections only to addresses the rules allow,
// checked after resolution, on the address actually dialed: a name that
// resolves to an allowed address at check time and to a loopback one a
// moment later (DNS rebinding) cannot slip through, because the check and
// the connect use the same resolved address.
type egressDialer struct {
	rules   *hostRules
	setting string // named in refusals, e.g. "--direct-allow"
	timeout time.Duration
	// lookup resolves a host name; nil means net.DefaultResolver. Tests
	// replace it.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// port, if set, replaces the port dialed after the check (tests only:
	// they cannot listen on 443).
	port func(host string, port uint16) uint16
}

// resolve returns the addresses of host (an IP literal is its own).
func (d *egressDialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if d.lookup != nil {
		return d.lookup(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// allowed resolves host and returns its allowed addresses, or the refusal
// of the first address when none is allowed.
func (d *egressDialer) allowed(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := d.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var ok []netip.Addr
	var refused error
	for _, a := range addrs {
		if err := d.rules.check(d.setting, host, a); err != nil {
			if refused == nil {
				refused = err
			}
			continue
		}
		ok = append(ok, a.Unmap())
	}
	if len(ok) == 0 {
		if refused == nil {
			refused = fmt.Errorf("%s resolves to no address", host)
		}
		return nil, refused
	}
	return ok, nil
}

// DialContext dials addr ("host:port") over TCP if the rules allow it.
func (d *egressDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port64, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: bad port", addr)
	}
	addrs, err := d.allowed(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, a := range addrs {
		port := uint16(port64)
		if d.port != nil {
			port = d.port(host, port)
		}
		nd := net.Dialer{
			Timeout: d.timeout,
			// The last word: the kernel is about to connect to exactly
			// this address. It must be the one just checked, and allowed.
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return err
				}
				if ap.Addr().Unmap() != a {
					return fmt.Errorf("dialing %s: address changed from %s to %s", host, a, ap.Addr())
				}
				return d.rules.check(d.setting, host, ap.Addr())
			},
		}
		c, err := nd.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}
