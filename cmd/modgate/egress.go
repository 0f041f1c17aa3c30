package main

import (
	"flag"
	"fmt"
)

// registerEgress defines the settings that bound modgate's outbound
// requests: where direct mode and upstream redirects may go, and how slow
// or how many fetches may be.
func (c *config) registerEgress(fs *flag.FlagSet) {
	fs.StringVar(&c.DirectAllow, "direct-allow", "public", "`hosts` direct mode (VCS fetches, go-get discovery) may connect to, checked after DNS on every connection: public (any public address), host patterns in GOPRIVATE syntax, IP addresses, CIDR prefixes; loopback, private, link-local and CGNAT addresses only when listed, cloud metadata never")
	// proxy.golang.org answers many zips with a 302 to a signed
	// storage.googleapis.com URL (golang/go#52908).
	fs.StringVar(&c.UpstreamRedirectAllow, "upstream-redirect-allow", "storage.googleapis.com", "`hosts` an upstream proxy may redirect to besides its own host and port: host patterns in GOPRIVATE syntax, IP addresses, CIDR prefixes; empty: same host only")
	fs.Int64Var(&c.UpstreamMinRate, "upstream-min-rate", 1024, "minimum upstream transfer rate in `bytes/s`, averaged over --upstream-idle-timeout; a slower body fails (0: off, only a body silent for the idle timeout fails)")
	fs.IntVar(&c.DirectMaxPerHost, "direct-max-per-host", 2, "most direct-mode fetches at once for the modules of one host")
	fs.IntVar(&c.DirectMaxTotal, "direct-max-total", 8, "most direct-mode fetches at once")
}

func (c *config) validateEgress() []error {
	var errs []error
	if c.UpstreamMinRate < 0 {
		errs = append(errs, fmt.Errorf("--upstream-min-rate %d: must be 0 (off) or positive", c.UpstreamMinRate))
	}
	if c.DirectMaxPerHost < 1 {
		errs = append(errs, fmt.Errorf("--direct-max-per-host %d: must be at least 1", c.DirectMaxPerHost))
	}
	if c.DirectMaxTotal < 1 {
		errs = append(errs, fmt.Errorf("--direct-max-total %d: must be at least 1", c.DirectMaxTotal))
	}
	if c.DirectAllow == "" {
		errs = append(errs, fmt.Errorf("--direct-allow: must not be empty (the default is public; remove direct from the upstream lists to turn direct mode off)"))
	}
	return errs
}

// minRate is the upstream package's MinRate for --upstream-min-rate, where
// 0 means off.
func (c *config) minRate() int64 {
	if c.UpstreamMinRate == 0 {
		return -1
	}
	return c.UpstreamMinRate
}
