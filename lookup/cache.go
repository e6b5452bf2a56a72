package lookup

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Cache keeps what the registries said, each answer under the block it was asked about
// (askedBlock), never under the network it names: an answer for one address says
// nothing about the rest of its network. The store implements it in the state database;
// MemoryCache is the default. A negative answer is a Contact without Emails whose Problem
// says why.
type Cache interface {
	// CachedContact returns the entry of the most specific cached block containing addr,
	// unless that entry expired before now (then ok is false: a stale block must not fall
	// back to a wider one around it). The Finder also judges the entry's age by its own TTL.
	CachedContact(addr netip.Addr, now time.Time) (c abusewatch.Contact, ok bool, err error)
	// CacheContact keeps c for the addresses of block until expires, replacing what was there.
	CacheContact(block netip.Prefix, c abusewatch.Contact, expires time.Time) error
	// ForgetContacts drops every entry whose block contains addr, and says how many there were.
	ForgetContacts(addr netip.Addr) (int, error)
}

// askedBlock is the block of addresses an answer to a query about addr may be reused
// for without asking again. RDAP answers with the most specific network holding addr and
// never says which more specific networks lie inside it (a RIPE /29 with its own abuse-c
// in a /16, an ARIN reassignment, an IPv6 /48 per customer), so the answer holds for addr
// alone: an IPv4 address is its own block. An IPv6 host routinely uses many addresses of
// its /64 (privacy addresses, one per connection), and the /64 is the smallest subnet
// a LAN, and so a customer, is given (RFC 7421: SLAAC needs it), so the block is the
// /64 of addr: per address, one attacker could make us send a query per connection.
// When the answer's network is itself narrower than a /64, the block is that network.
func askedBlock(addr netip.Addr, network netip.Prefix) netip.Prefix {
	addr = addr.Unmap()
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	if n := abusewatch.UnmapPrefix(network); n.IsValid() && n.Bits() > 64 && n.Contains(addr) {
		return n
	}
	return netip.PrefixFrom(addr, 64).Masked()
}

// MemoryCache is a Cache in memory, for a Finder without a state database (whois while the
// daemon runs or with a server of its own, tests). It is safe for concurrent use.
type MemoryCache struct {
	mu      sync.Mutex
	entries map[netip.Prefix]memoryEntry
}

type memoryEntry struct {
	contact abusewatch.Contact
	expires time.Time
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{entries: map[netip.Prefix]memoryEntry{}}
}

// CachedContact implements Cache.
func (m *MemoryCache) CachedContact(addr netip.Addr, now time.Time) (abusewatch.Contact, bool, error) {
	addr = addr.Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	for bits := addr.BitLen(); bits >= 0; bits-- {
		e, ok := m.entries[netip.PrefixFrom(addr, bits).Masked()]
		if !ok {
			continue
		}
		if now.After(e.expires) {
			return abusewatch.Contact{}, false, nil
		}
		return cloneContact(e.contact), true, nil
	}
	return abusewatch.Contact{}, false, nil
}

// CacheContact implements Cache.
func (m *MemoryCache) CacheContact(block netip.Prefix, c abusewatch.Contact, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[abusewatch.UnmapPrefix(block).Masked()] = memoryEntry{contact: cloneContact(c), expires: expires}
	return nil
}

// ForgetContacts implements Cache.
func (m *MemoryCache) ForgetContacts(addr netip.Addr) (int, error) {
	addr = addr.Unmap()
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for bits := addr.BitLen(); bits >= 0; bits-- {
		p := netip.PrefixFrom(addr, bits).Masked()
		if _, ok := m.entries[p]; ok {
			delete(m.entries, p)
			n++
		}
	}
	return n, nil
}

// cloneContact copies c's slices, so that no caller shares them with the cache.
func cloneContact(c abusewatch.Contact) abusewatch.Contact {
	c.Emails = slices.Clone(c.Emails)
	c.Mailboxes = slices.Clone(c.Mailboxes)
	return c
}
