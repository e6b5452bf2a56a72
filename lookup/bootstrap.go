package lookup

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/openrdap/rdap/bootstrap"
)

// embeddedBootstrap is the IANA registry the daemon starts with, so finding the right
// RDAP server needs no network access (see bootstrap/PROVENANCE).
//
//go:embed bootstrap/ipv4.json bootstrap/ipv6.json
var embeddedBootstrap embed.FS

// bootstrapRegistry maps an address to the RDAP server of the registry that holds it.
type bootstrapRegistry struct {
	v4, v6 *bootstrap.NetRegistry
}

// loadBootstrap parses the embedded registries and replaces each with its copy in dir,
// when dir is set and holds one.
func loadBootstrap(dir string) (*bootstrapRegistry, error) {
	var b bootstrapRegistry
	found := 0
	for _, v := range []struct {
		file    string
		version int
		dst     **bootstrap.NetRegistry
	}{{"ipv4.json", 4, &b.v4}, {"ipv6.json", 6, &b.v6}} {
		name := "embedded bootstrap/" + v.file
		data, err := embeddedBootstrap.ReadFile("bootstrap/" + v.file)
		if err != nil {
			return nil, fmt.Errorf("lookup: %s: %w", name, err)
		}
		if dir != "" {
			path := filepath.Join(dir, v.file)
			switch d, err := os.ReadFile(path); {
			case err == nil:
				name, data = path, d
				found++
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("lookup: bootstrap file: %w", err)
			}
		}
		if *v.dst, err = parseBootstrap(data, v.version); err != nil {
			return nil, fmt.Errorf("lookup: bootstrap file %s: %w", name, err)
		}
	}
	if dir != "" && found == 0 {
		return nil, fmt.Errorf("lookup: bootstrap directory %s holds neither ipv4.json nor ipv6.json", dir)
	}
	return &b, nil
}

// parseBootstrap parses an RFC 9224 registry. The library skips entries it cannot use
// without a word, so a file that yields no network of the right family (a truncated
// download, ipv6.json saved as ipv4.json) is refused here.
func parseBootstrap(data []byte, version int) (*bootstrap.NetRegistry, error) {
	reg, err := bootstrap.NewNetRegistry(data, version)
	if err != nil {
		return nil, err
	}
	usable := 0
	for entry, urls := range reg.File().Entries {
		p, err := netip.ParsePrefix(entry)
		if err == nil && p.Addr().Is4() == (version == 4) && len(urls) > 0 {
			usable++
		}
	}
	if usable == 0 {
		return nil, fmt.Errorf("no IPv%d network with an RDAP server URL in its services", version)
	}
	return reg, nil
}

// serverFor returns the RDAP base URL responsible for addr, preferring HTTPS. The URL is
// a fresh copy: rdap.Request.URL modifies the server URL it is given.
func (b *bootstrapRegistry) serverFor(addr netip.Addr) (*url.URL, error) {
	addr = addr.Unmap()
	reg := b.v6
	if addr.Is4() {
		reg = b.v4
	}
	ans, err := reg.Lookup(&bootstrap.Question{Query: addr.String()})
	if err != nil {
		return nil, fmt.Errorf("lookup: RDAP bootstrap for %s: %w", addr, err)
	}
	if len(ans.URLs) == 0 {
		return nil, fmt.Errorf("lookup: RDAP bootstrap: no registry serves %s (private, reserved or unallocated?)", addr)
	}
	best := ans.URLs[0]
	for _, u := range ans.URLs {
		if u.Scheme == "https" {
			best = u
			break
		}
	}
	u := *best
	return &u, nil
}

// registry is an Internet registry and the domain its servers and mailboxes are under.
type registry struct{ domain, name string }

// registries is the one list of the Internet registries: IANA, the five RIRs and the
// national registries (NIRs) under APNIC and LACNIC. registryName names an RDAP server by
// it, and a mailbox under one of these domains is the registry's own (abuse@ripe.net,
// hostmaster@nic.or.kr): registries name themselves as the contact of space they hold or
// administer for others, but they do not run those networks, so they are no one to report
// to. An http:// referral to one of them is upgraded to https://.
func registries() []registry {
	return []registry{
		{"iana.org", "IANA"},
		{"arin.net", "ARIN"},
		{"ripe.net", "RIPE NCC"},
		{"apnic.net", "APNIC"},
		{"lacnic.net", "LACNIC"},
		{"afrinic.net", "AFRINIC"},
		// NIRs under APNIC
		{"nic.ad.jp", "JPNIC"},
		{"nic.or.kr", "KRNIC"},
		{"krnic.or.kr", "KRNIC"},
		{"twnic.net.tw", "TWNIC"},
		{"twnic.tw", "TWNIC"},
		{"cnnic.cn", "CNNIC"},
		{"cnnic.net.cn", "CNNIC"},
		{"idnic.net", "IDNIC"},
		{"vnnic.vn", "VNNIC"},
		{"vnnic.net.vn", "VNNIC"},
		{"irinn.in", "IRINN"},
		// NIRs under LACNIC
		{"registro.br", "NIC.br"},
		{"nic.br", "NIC.br"},
		{"nic.mx", "NIC Mexico"},
	}
}

// registryOf returns the registry whose domain host (a host name, or the domain of a
// mailbox) is or is under.
func registryOf(host string) (registry, bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, r := range registries() {
		if host == r.domain || strings.HasSuffix(host, "."+r.domain) {
			return r, true
		}
	}
	return registry{}, false
}

// registryName names the registry behind an RDAP server, for the report and the admin.
// Servers the table does not know (a test server, an operator's own) go by their host.
func registryName(u *url.URL) string {
	if r, ok := registryOf(u.Hostname()); ok {
		return r.name
	}
	return strings.ToLower(u.Hostname())
}

// registryMailbox says which registry email belongs to, if any: see registries.
func registryMailbox(email string) (registry, bool) {
	i := strings.LastIndexByte(email, '@')
	if i < 0 {
		return registry{}, false
	}
	return registryOf(email[i+1:])
}
