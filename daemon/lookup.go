package daemon

import (
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/lookup"
)

// NewFinder is in pipeline.go; this file holds the defaults and checks of the lookup
// sections: [lookup], [[contact]], [[cert]] and [[do_not_contact]].

// lookupDefaults fills the [lookup] keys the file leaves out.
func (c *Config) lookupDefaults() {
	if c.Lookup.RateLimitWait.Duration == 0 {
		c.Lookup.RateLimitWait = Duration{lookup.DefaultRateLimitWait}
	}
	if c.Lookup.Guess == nil {
		c.Lookup.Guess = ptr(true)
	}
	if c.Lookup.CacheTTL.Duration == 0 {
		c.Lookup.CacheTTL = Duration{lookup.DefaultCacheTTL}
	}
	if c.Lookup.NegativeTTL.Duration == 0 {
		c.Lookup.NegativeTTL = Duration{lookup.DefaultNegativeTTL}
	}
}

// validateLookup checks the lookup sections, each error with the file, line and key
// (for a key left out, the line of its table).
func (c *Config) validateLookup() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{File: c.file, Line: keyOrTableLine(c.doc, key), Key: key, Problem: fmt.Sprintf(format, args...)}
	}
	for _, r := range c.Lookup.Resolvers {
		if _, _, err := net.SplitHostPort(r); err != nil {
			if _, err := netip.ParseAddr(r); err != nil {
				return bad("lookup.resolvers", "%q is not a DNS server: write host:port, e.g. \"127.0.0.53:53\"", r)
			}
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"lookup.timeout", c.Lookup.Timeout.Duration}, {"lookup.rate_limit_wait", c.Lookup.RateLimitWait.Duration},
		{"lookup.cache_ttl", c.Lookup.CacheTTL.Duration}, {"lookup.negative_ttl", c.Lookup.NegativeTTL.Duration}} {
		if d.v < 0 {
			return bad(d.key, "must be positive, not %v", d.v)
		}
	}
	// A registry's answer is trusted this long without asking again; networks change
	// hands, and an answer kept for a year would report a new holder to the old one.
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"lookup.cache_ttl", c.Lookup.CacheTTL.Duration}, {"lookup.negative_ttl", c.Lookup.NegativeTTL.Duration}} {
		if d.v > lookup.MaxCacheTTL {
			return bad(d.key, "%s is longer than the longest an answer may be kept, %s: networks change hands, and an old answer reports the new holder's abuse to the old one", Duration{d.v}, Duration{lookup.MaxCacheTTL})
		}
	}
	if u, err := url.Parse(c.Lookup.RDAPServer); c.Lookup.RDAPServer != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		return bad("lookup.rdap_server", "%q is not an RDAP base URL such as \"https://rdap.arin.net/registry/\"", c.Lookup.RDAPServer)
	}
	if z := strings.Trim(c.Lookup.AbuseZone, "."); c.Lookup.AbuseZone != "" && !zoneName(z) {
		return bad("lookup.abuse_zone", "%q is not a DNS zone name such as \"abuse-contacts.abusix.zone\"", c.Lookup.AbuseZone)
	}
	for i, cert := range c.CERTs {
		if len(cert.Country) != 2 || strings.Trim(strings.ToUpper(cert.Country), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return bad(fmt.Sprintf("cert[%d].country", i), "%q is not a two-letter country code such as \"BR\"", cert.Country)
		}
		if len(cert.Emails) == 0 {
			return bad(fmt.Sprintf("cert[%d].emails", i), "a [[cert]] needs at least one address")
		}
		for _, e := range cert.Emails {
			if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
				return bad(fmt.Sprintf("cert[%d].emails", i), "%q is not a mail address: write the bare address, e.g. \"cert@cert.br\"", e)
			}
		}
	}
	for i, d := range c.DoNotContact {
		key := fmt.Sprintf("do_not_contact[%d].network", i)
		if _, err := parseNetwork(d.Network); err != nil {
			return bad(key, "%q is not an address or a network in CIDR notation such as \"198.51.100.0/24\"", d.Network)
		}
		// As [[contact]] and policy.never_report: "198.51.100.7/24" is refused, not
		// silently taken as 198.51.100.0/24.
		if _, err := ParseExclusion(d.Network); err != nil {
			return bad(key, "%v", err)
		}
	}
	return nil
}

// zoneName says whether s is a DNS name made of letter-digit-hyphen labels.
func zoneName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || strings.Trim(strings.ToLower(label), "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// lookupOptions turns the config into the lookup stage's options (NewFinder adds the cache).
func lookupOptions(cfg *Config) lookup.Options {
	var static []lookup.StaticContact
	for _, c := range cfg.Contacts {
		p, _ := netip.ParsePrefix(c.Network) // validated
		static = append(static, lookup.StaticContact{Network: p.Masked(), Emails: c.Emails})
	}
	var dnc []lookup.DoNotContact
	for _, d := range cfg.DoNotContact {
		p, _ := parseNetwork(d.Network) // validated
		dnc = append(dnc, lookup.DoNotContact{Network: p, Reason: d.Reason})
	}
	var certs []lookup.NationalCERT
	for _, c := range cfg.CERTs {
		certs = append(certs, lookup.NationalCERT{Country: c.Country, Emails: c.Emails})
	}
	l := cfg.Lookup
	return lookup.Options{
		Resolvers:     l.Resolvers,
		Timeout:       l.Timeout.Duration,
		RDAP:          *l.RDAP,
		BootstrapDir:  l.BootstrapDir,
		RDAPServer:    l.RDAPServer,
		RateLimitWait: l.RateLimitWait.Duration,
		AbuseZone:     l.AbuseZone,
		Guess:         *l.Guess,
		Static:        static,
		DoNotContact:  dnc,
		CERTs:         certs,
		CacheTTL:      l.CacheTTL.Duration,
		NegativeTTL:   l.NegativeTTL.Duration,
	}
}
