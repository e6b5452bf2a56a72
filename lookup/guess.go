package lookup

import (
	"strings"

	"github.com/abusewatch/abusewatch"
	"golang.org/x/net/publicsuffix"
)

// guessMailboxes returns abuse@ and security@ of the registrable domain of a forward-
// confirmed reverse name (dsl-1-2-3-4.pool.example.co.uk → example.co.uk), the addresses a
// person would try when the registry names no one. Both are marked as guesses.
func guessMailboxes(ptr string) []abusewatch.Mailbox {
	name := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(ptr), "."))
	if name == "" {
		return nil
	}
	domain, err := publicsuffix.EffectiveTLDPlusOne(name)
	if err != nil {
		return nil // the name is a public suffix itself, or not a domain name
	}
	return []abusewatch.Mailbox{
		{Email: "abuse@" + domain, Role: "abuse", Source: "guess"},
		{Email: "security@" + domain, Role: "security", Source: "guess"},
	}
}
