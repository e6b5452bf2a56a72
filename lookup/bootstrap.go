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

// registryName names the registry behind an RDAP server, for the report and the admin.
// Servers the table does not know (a national registry, a test server) go by their host.
func registryName(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	for _, r := range []struct{ domain, name string }{
		{"arin.net", "ARIN"},
		{"ripe.net", "RIPE NCC"},
		{"apnic.net", "APNIC"},
		{"lacnic.net", "LACNIC"},
		{"afrinic.net", "AFRINIC"},
	} {
		if host == r.domain || strings.HasSuffix(host, "."+r.domain) {
			return r.name
		}
	}
	return host
}
