package store

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The incidents a pass makes again after ForgetUnreportedIncidents keep, by
// KeepForgotten, when they were first stored, and stay off the work list as the
// forgotten ones were, unless they grew; a possible compromise made under another ID
// stays off it when the alert about a forgotten one showed its logins.
func TestKeepForgottenGivesTheIncidentsMadeAgainWhatTheForgottenHad(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	incident := func(id, addr string, first time.Time, success bool) abusewatch.Incident {
		a := netip.MustParseAddr(addr)
		return abusewatch.Incident{ID: id, Key: "ip:" + addr + "|" + id, Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
			First: first, Last: first.Add(time.Minute), Count: 5, Success: success}
	}
	incs := []abusewatch.Incident{
		incident("expired", "45.134.26.1", t0, false), // off the list: too old
		incident("grows", "45.134.26.2", t0, false),   // off the list, and longer when made again
		incident("waiting", "45.134.26.3", t0, false), // on the list (no contact found)
		incident("mailed", "81.2.69.160", t0, true),   // a possible compromise mailed about
		incident("unmailed", "81.2.69.161", t0, true), // one whose mail failed
	}
	// A possible compromise of a network (its login's /24 failed before), mailed
	// about: it names no one address.
	netLogin := abusewatch.Incident{ID: "netlogin", Key: "success:45.134.27.0/24", Rule: "success-after-failure",
		Network: netip.MustParsePrefix("45.134.27.0/24"), First: t0, Last: t0.Add(time.Minute), Count: 5, Success: true}
	incs = append(incs, netLogin)
	if err := s.PutIncidents(incs); err != nil {
		t.Fatal(err)
	}
	if err := s.ExpireUnreported([]string{"expired", "grows", "mailed", "netlogin"}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.FirstStored([]string{"expired", "grows", "waiting", "mailed", "unmailed", "netlogin"})
	if err != nil || len(stored) != 6 {
		t.Fatalf("FirstStored = %v, %v", stored, err)
	}
	forgotten, _, err := s.ForgetUnreportedIncidents(t0.Add(-time.Hour))
	if err != nil || forgotten.Len() != 6 {
		t.Fatalf("ForgetUnreportedIncidents: %d forgotten, %v; want 6", forgotten.Len(), err)
	}
	made := time.Now()
	grown := incs[1]
	grown.Last = grown.Last.Add(time.Hour)
	// The changed rules name the mailed login's incident anew, and find another login
	// of the address hours after it.
	renamed := incident("renamed", "81.2.69.160", t0.Add(30*time.Second), true)
	later := incident("later", "81.2.69.160", t0.Add(5*time.Hour), true)
	again := []abusewatch.Incident{incs[0], grown, incs[2], incs[4], renamed, later, netLogin}
	if err := s.PutIncidents(again); err != nil {
		t.Fatal(err)
	}
	unlisted, err := s.KeepForgotten(forgotten, made, 10*time.Minute)
	if err != nil || unlisted != 3 {
		t.Errorf("KeepForgotten: %d off the list, %v; want 3", unlisted, err)
	}
	list, err := unreported(s, 0)
	if got := incidentIDs(t, list, err); !slices.Equal(got, []string{"grows", "later", "unmailed", "waiting"}) {
		t.Errorf("on the work list: %v", got)
	}
	after, err := s.FirstStored([]string{"expired", "grows", "waiting", "unmailed", "renamed"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"expired", "grows", "waiting", "unmailed"} {
		if !after[id].Equal(stored[id]) {
			t.Errorf("%s first stored %s, was %s", id, after[id], stored[id])
		}
	}
	if after["renamed"].Before(made) {
		t.Errorf("renamed first stored %s, before the pass (%s)", after["renamed"], made)
	}
}
