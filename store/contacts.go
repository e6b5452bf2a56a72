package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// bucketContacts is the lookup cache: prefixKey(block) → cachedContact. One entry per block
// the lookup stage asked a registry about (an IPv4 address, an IPv6 /64), never per
// network the answer names: the answer says nothing about the more specific networks
// in that network (schema 12; the entries of schema 11 and before were per network and
// are dropped by the migration).
var bucketContacts = []byte("contacts")

// cachedContact is a contact with the time it stops being good.
type cachedContact struct {
	Contact abusewatch.Contact `json:"contact"`
	Expires time.Time          `json:"expires"`
}

// CachedContact returns the cached contact of the most specific block holding addr,
// unless it expired before now: then ok is false, because the registry must be asked
// again rather than a wider block around it trusted. It implements lookup.Cache.
func (s *Store) CachedContact(addr netip.Addr, now time.Time) (abusewatch.Contact, bool, error) {
	addr = addr.Unmap()
	var cc cachedContact
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		// At most 33 (IPv4) or 129 (IPv6) point reads, most specific first: a few
		// microseconds, far cheaper than any cleverer index.
		for bits := addr.BitLen(); bits >= 0; bits-- {
			v := b.Get(prefixKey(netip.PrefixFrom(addr, bits)))
			if v == nil {
				continue
			}
			found = true
			return json.Unmarshal(v, &cc)
		}
		return nil
	})
	if err != nil {
		return abusewatch.Contact{}, false, fmt.Errorf("store: cached contact for %s: %w", addr, err)
	}
	if !found || now.After(cc.Expires) {
		return abusewatch.Contact{}, false, nil
	}
	return cc.Contact, true, nil
}

// CacheContact keeps c for the addresses of block until expires, replacing what was
// there. It implements lookup.Cache.
func (s *Store) CacheContact(block netip.Prefix, c abusewatch.Contact, expires time.Time) error {
	if !block.IsValid() {
		return fmt.Errorf("store: cache contact for %s: no block", c.Network)
	}
	v, err := json.Marshal(cachedContact{Contact: c, Expires: expires})
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContacts).Put(prefixKey(abusewatch.UnmapPrefix(block).Masked()), v)
	})
	if err != nil {
		return fmt.Errorf("store: cache contact for %s: %w", block, err)
	}
	return nil
}

// ForgetContacts deletes every entry whose block holds addr and returns how many there
// were. It implements lookup.Cache.
func (s *Store) ForgetContacts(addr netip.Addr) (int, error) {
	addr = addr.Unmap()
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		for bits := addr.BitLen(); bits >= 0; bits-- {
			k := prefixKey(netip.PrefixFrom(addr, bits))
			if b.Get(k) == nil {
				continue
			}
			if err := b.Delete(k); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: forget the cached contacts of %s: %w", addr, err)
	}
	return n, nil
}

// PruneContacts deletes the cache entries that expired before now and returns how many.
func (s *Store) PruneContacts(now time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketContacts).Cursor()
		for k, v := c.First(); k != nil; {
			var cc cachedContact
			if err := json.Unmarshal(v, &cc); err != nil || now.After(cc.Expires) {
				if err := c.Delete(); err != nil {
					return err
				}
				n++
				k, v = c.Seek(k) // Delete moves nothing: look again from the deleted key
				continue
			}
			k, v = c.Next()
		}
		return nil
	})
	return n, err
}
