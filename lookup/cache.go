package lookup

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Cache keeps what the registries said per network, so one RDAP query serves every address
// of the network until the answer expires. The store implements it in the state database;
// MemoryCache is the default. A negative answer is a Contact without Emails whose Problem
// says why.
type Cache interface {
	// CachedContact returns the entry of the most specific cached network containing addr,
	// unless that entry expired before now (then ok is false: a stale /24 must not fall
	// back to the /16 around it).
	CachedContact(addr netip.Addr, now time.Time) (c abusewatch.Contact, ok bool, err error)
	// CacheContact keeps c for c.Network until expires, replacing what was there.
	CacheContact(c abusewatch.Contact, expires time.Time) error
}

// MemoryCache is a Cache in memory, for a Finder without a state database (whois while the
// daemon runs, tests). It is safe for concurrent use.
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
func (m *MemoryCache) CacheContact(c abusewatch.Contact, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[abusewatch.UnmapPrefix(c.Network)] = memoryEntry{contact: cloneContact(c), expires: expires}
	return nil
}

// cloneContact copies c's slices, so that no caller shares them with the cache.
func cloneContact(c abusewatch.Contact) abusewatch.Contact {
	c.Emails = slices.Clone(c.Emails)
	c.Mailboxes = slices.Clone(c.Mailboxes)
	return c
}
