package daemon

import (
	"net/netip"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// A party first met as a guess (abuse@provider.example from network A's reverse names,
// its registry naming no one) whose mailbox another lookup gives as the registry's
// desk of network B: the memo's networks that no registry names anyone for are A
// alone. B was added, and the memo told the desk listed for B that its registry named
// no one (review 25). Two guesses of one mailbox still name both networks.
func TestAGuessPartyJoinedByADeskKeepsOnlyTheGuessedNetworks(t *testing.T) {
	a, b := netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("203.0.113.0/24")
	contact := func(p netip.Prefix, name, role string) abusewatch.Contact {
		return abusewatch.Contact{Network: p, Name: name, Guess: role == "guess", Emails: []string{"abuse@provider.example"},
			Mailboxes: []abusewatch.Mailbox{{Email: "abuse@provider.example", Role: role}}}
	}
	if got := withNetworks(contact(a, "NET-A", "guess"), contact(b, "NET-B", "abuse")); len(got.Networks) != 0 {
		t.Errorf("a guess joined by a desk of the same mailbox names the networks %v; want only its own (%v)", got.Networks, a)
	}
	got := withNetworks(contact(a, "NET-A", "guess"), contact(b, "NET-B", "guess"))
	want := []abusewatch.NamedNetwork{{Network: a, Name: "NET-A"}, {Network: b, Name: "NET-B"}}
	if len(got.Networks) != 2 || got.Networks[0] != want[0] || got.Networks[1] != want[1] {
		t.Errorf("two guesses of one mailbox name %v; want %v", got.Networks, want)
	}
}
