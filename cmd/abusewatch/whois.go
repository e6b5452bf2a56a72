package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/lookup"
	"github.com/abusewatch/abusewatch/store"
)

// whoisCommand is `abusewatch whois`: who is responsible for an address or a host name,
// found the way the daemon finds it, step by step.
type whoisCommand struct {
	stdout, stderr io.Writer
}

func (c *whoisCommand) Name() string { return "whois" }
func (c *whoisCommand) Synopsis() string {
	return "show who is responsible for an address or host name, step by step"
}

// whoisStoreTimeout is how long whois waits for the state database: a running daemon
// holds it for good, so waiting longer gains nothing.
const whoisStoreTimeout = 200 * time.Millisecond

// whoisJSON is what `whois --json` prints.
type whoisJSON struct {
	Query        string         `json:"query"`
	Addrs        []string       `json:"addrs"`
	PTR          string         `json:"ptr"`
	PTRConfirmed bool           `json:"ptr_confirmed"`
	Registry     string         `json:"registry"`
	Network      string         `json:"network"`
	Country      string         `json:"country"`
	Contacts     []whoisContact `json:"contacts"`
	// NeverReported says why abusewatch never reports the address; "" when it may.
	NeverReported string `json:"never_reported"`
}

type whoisContact struct {
	Email  string `json:"email"`
	Role   string `json:"role"`
	Source string `json:"source"`
}

func (c *whoisCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--json] [--refresh] [--rdap-server URL] [--dns-server ADDR:PORT] ADDRESS|NAME", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file` (its [lookup], [[contact]], [[cert]], [[do_not_contact]] and [store]); without it, the defaults")
	asJSON := fs.Bool("json", false, "print one JSON object instead of the steps")
	refresh := fs.Bool("refresh", false, "forget the state database's cached answers for the address and ask the registry again; its answer replaces them (stop the daemon first: it holds the database)")
	rdapServer := fs.String("rdap-server", "", "send the RDAP query to this base `URL` instead of the registry the bootstrap names (the state database's cache is neither read nor written)")
	dnsServer := fs.String("dns-server", "", "ask this DNS server (`ADDR:PORT`) instead of the configured resolvers (the state database's cache is neither read nor written)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return &usageError{"name one address or host name, e.g. abusewatch whois 192.0.2.7"}
	}
	if err := whoisQueryError(rest[0]); err != nil {
		return err
	}
	// An override is for one call: what a server of the admin's choosing (a test server,
	// a mirror) answers must never reach the cache later reports are addressed from, nor
	// an answer cached from the configured registry stand in for the one asked now.
	override := *rdapServer != "" || *dnsServer != ""
	if override && *refresh {
		return &usageError{"--refresh replaces the state database's cached answer with the configured registry's; with --rdap-server or --dns-server nothing is read from or written to that cache"}
	}
	cfg, err := c.loadConfig(fs, *config)
	if err != nil {
		return err
	}
	if *rdapServer != "" {
		cfg.Lookup.RDAPServer = *rdapServer
		cfg.Lookup.RDAP = new(true)
	}
	if *dnsServer != "" {
		cfg.Lookup.Resolvers = []string{*dnsServer}
	}
	if addr, err := netip.ParseAddr(strings.TrimSpace(rest[0])); err == nil {
		if p, special := correlate.SpecialPurpose(addr.Unmap()); special {
			// No registry answers for private or reserved space, and its reverse name is
			// the admin's own resolver's: nothing is asked, nothing cached.
			fd := lookup.Finding{Query: rest[0], Addrs: []netip.Addr{addr}, PTRError: "not asked (special-purpose space)"}
			if *asJSON {
				return c.printJSON(fd, cfg.NeverReported(addr))
			}
			fd.Notes = []string{fmt.Sprintf("not looked up: %s is special-purpose space, which no registry answers for", p)}
			c.printSteps(fd, "not used: nothing was asked", cfg.NeverReported(addr), time.Now())
			return nil
		}
	}

	var cache lookup.Cache
	var cacheNote string
	if override {
		cache, cacheNote = lookup.NewMemoryCache(), "not used: with --rdap-server or --dns-server the state database's cache is neither read nor written"
	} else {
		switch st, err := c.openStore(cfg.Store.Path); {
		case err == nil && st != nil:
			defer st.Close()
			cache = st
			if *refresh {
				cacheNote = "refreshed: asked the registry again; its answer replaces the state database's"
			}
		case errors.Is(err, store.ErrLocked) && *refresh:
			return fmt.Errorf("--refresh: the daemon holds the state database, so its cached answer cannot be replaced now: stop the daemon and run this again, or lower lookup.cache_ttl (negative_ttl) and reload it")
		case errors.Is(err, store.ErrLocked):
			cacheNote = "the daemon holds the state database: looked up without its cache"
		case err != nil:
			cacheNote = fmt.Sprintf("no cache: %v", err)
		default:
			cacheNote = fmt.Sprintf("no cache: %s does not exist yet", cfg.Store.Path)
		}
	}
	f, err := daemon.NewFinder(cfg, cache)
	if err != nil {
		if *rdapServer != "" || *dnsServer != "" {
			return &usageError{err.Error()}
		}
		return err
	}
	whois := f.Whois
	if *refresh {
		whois = f.Refresh
	}
	fd, lookupErr := whois(ctx, rest[0])
	never := ""
	if len(fd.Addrs) > 0 {
		never = cfg.NeverReported(fd.Addrs[0])
	}
	if *asJSON {
		if err := c.printJSON(fd, never); err != nil {
			return err
		}
	} else {
		c.printSteps(fd, cacheNote, never, time.Now())
	}
	return lookupErr
}

// whoisQueryError refuses, as a mistake in the command line (exit 2, nothing on stdout),
// a query that is neither an address nor a host name: a network, an address with an
// IPv6 zone, a word with characters no host name has. It was looked up, and printed a
// JSON answer beside the error, with the exit status of a lookup that failed.
func whoisQueryError(q string) error {
	q = strings.TrimSpace(q)
	if err := zoneError(q); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(q); err == nil {
		return nil
	}
	if p, err := netip.ParsePrefix(q); err == nil {
		return &usageError{fmt.Sprintf("%s is a network: whois looks up one address (e.g. %s) or host name; abusewatch net %s shows what is known about the network",
			q, p.Addr(), q)}
	}
	name := strings.TrimSuffix(q, ".")
	ok := name != "" && len(name) <= 253
	for label := range strings.SplitSeq(name, ".") {
		ok = ok && label != "" && len(label) <= 63 && strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
	}
	if !ok {
		return &usageError{fmt.Sprintf("%q is neither an address nor a host name, e.g. 192.0.2.7 or mail.example.com", q)}
	}
	return nil
}

// loadConfig reads the config, or takes the defaults when the default file is absent: a
// lookup is useful on a host where abusewatch is not set up yet.
func (c *whoisCommand) loadConfig(fset *flag.FlagSet, path string) (*daemon.Config, error) {
	explicit := false
	fset.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	if _, err := os.Stat(path); !explicit && errors.Is(err, fs.ErrNotExist) {
		return daemon.ParseConfig("(defaults, no "+path+")", []byte("[policy]\nmode = \"observe\"\n[store]\npath = \"\"\n"))
	}
	return daemon.LoadConfig(path)
}

// openStore opens the state database for its cache when it exists and no daemon holds it;
// it returns nil, nil when there is no database yet (whois does not create one).
func (c *whoisCommand) openStore(path string) (*store.Store, error) {
	if path == "" {
		return nil, nil
	}
	st, err := store.OpenExisting(path, whoisStoreTimeout)
	if errors.Is(err, store.ErrNoDatabase) {
		return nil, nil
	}
	return st, err
}

// shown is a string from outside (a registry's answer, a reverse name, an error quoting
// them) as whois prints it: without the control characters that would let the answer
// draw on the admin's terminal (an ESC sequence, a CR that writes a fake line over a real one).
func shown(s string) string { return lookup.Printable(s, 0) }

func (c *whoisCommand) printJSON(fd lookup.Finding, never string) error {
	out := whoisJSON{
		NeverReported: never,
		Query:         shown(fd.Query),
		Addrs:         []string{},
		PTR:           shown(fd.PTR),
		PTRConfirmed:  fd.PTRConfirmed,
		Registry:      shown(fd.Contact.Registry),
		Country:       shown(fd.Contact.Country),
		Contacts:      []whoisContact{},
	}
	for _, a := range fd.Addrs {
		out.Addrs = append(out.Addrs, a.String())
	}
	if fd.Contact.Network.IsValid() {
		out.Network = fd.Contact.Network.String()
	}
	for _, m := range fd.Contact.Mailboxes {
		out.Contacts = append(out.Contacts, whoisContact{Email: shown(m.Email), Role: shown(m.Role), Source: shown(m.Source)})
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printSteps writes what was found the way a person would note it down by hand.
func (c *whoisCommand) printSteps(fd lookup.Finding, cacheNote, never string, now time.Time) {
	w := newTable(c.stdout)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s\t%s\n", label, fmt.Sprintf(format, args...))
	}
	line("query", "%s", shown(fd.Query))
	var addrs []string
	for _, a := range fd.Addrs {
		addrs = append(addrs, a.String())
	}
	switch {
	case len(addrs) == 0:
		line("addresses", "none")
	case fd.Ambiguous:
		line("addresses", "%s (ambiguous: the name has %d; looked up the first)", strings.Join(addrs, ", "), len(addrs))
	default:
		line("address", "%s", addrs[0])
	}
	if never != "" {
		line("reported", "never: %s", never)
	}
	switch ptr := shown(fd.PTR); {
	case ptr == "" && fd.PTRError != "":
		line("reverse name", "unknown: %s", shown(fd.PTRError))
	case ptr == "":
		line("reverse name", "none")
	case fd.PTRConfirmed:
		line("reverse name", "%s (forward-confirmed)", ptr)
	default:
		line("reverse name", "%s (NOT forward-confirmed: it does not resolve back; not used)", ptr)
	}
	ct := fd.Contact
	switch {
	case ct.Registry != "" && fd.Cached:
		// The cached answer's query, which may be of another address of its /64 (or of
		// the network the cache kept it for), not this one's.
		line("registry", "%s (%s: the query whose answer the cache kept)", shown(ct.Registry), shown(ct.Source))
	case ct.Registry != "":
		line("registry", "%s (%s)", shown(ct.Registry), shown(ct.Source))
	case ct.Role == "static":
		line("registry", "not asked: the config's [[contact]] table covers the address")
	}
	if ct.Network.IsValid() {
		details := ct.Network.String()
		if ct.Name != "" {
			details += "  " + shown(ct.Name)
		}
		if ct.Country != "" {
			details += "  country " + shown(ct.Country)
		}
		line("network", "%s", details)
	}
	switch {
	case cacheNote != "":
		line("cache", "%s", cacheNote)
	case fd.Cached:
		line("cache", "answer fetched %s ago, from the cache", now.Sub(ct.Fetched).Round(time.Second))
	case ct.Registry != "":
		line("cache", "not cached: asked the registry now")
	}
	if len(ct.Mailboxes) == 0 {
		line("contacts", "none")
	}
	for i, m := range ct.Mailboxes {
		label := ""
		if i == 0 {
			label = "contacts"
		}
		note := ""
		if m.Source == "guess" {
			note = "  (a guess)"
		}
		line(label, "%s\t%s\t%s%s", shown(m.Email), shown(m.Role), shown(m.Source), note)
	}
	w.Flush()
	if len(fd.Notes) > 0 {
		fmt.Fprintln(c.stdout, "\nsteps:")
		for i, n := range fd.Notes {
			fmt.Fprintf(c.stdout, "  %d. %s\n", i+1, shown(n))
		}
	}
}
