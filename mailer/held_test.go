package mailer

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// HeldByReported names the reported incident that holds every line of an incident: one
// whose times take in its times and that counts every line of its kind there.
func TestHeldByReported(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("45.134.26.7")
	fail := []abusewatch.Class{abusewatch.ClassAuthFailure}
	inc := func(id, key, rule string, network netip.Prefix, from, to int, classes []abusewatch.Class) abusewatch.Incident {
		return abusewatch.Incident{ID: id, Key: key, Rule: rule, Addr: a, Network: network, Classes: classes,
			First: t0.Add(time.Duration(from) * time.Hour), Last: t0.Add(time.Duration(to) * time.Hour), Count: 30}
	}
	host, net24 := netip.PrefixFrom(a, 32), netip.MustParsePrefix("45.134.26.0/24")
	recur := inc("recur", "recur:45.134.26.7/32", "recurrence", host, 0, 240, fail)
	network := inc("net", "net:45.134.26.0/24", "network", net24, 0, 2, fail)
	sweep := inc("sweep", "sweep:45.134.26.7|sshd", "sweep", host, 0, 240, fail)
	for _, c := range []struct {
		name     string
		inc      abusewatch.Incident
		reported []abusewatch.Incident
		want     string
	}{
		{"a day of a reported recurrence", inc("a", "ip:45.134.26.7", "per-address", host, 48, 52, fail), []abusewatch.Incident{recur}, "recur"},
		{"at its very ends", inc("a", "ip:45.134.26.7", "per-address", host, 0, 240, fail), []abusewatch.Incident{recur}, "recur"},
		{"an hour past its end", inc("a", "ip:45.134.26.7", "per-address", host, 239, 241, fail), []abusewatch.Incident{recur}, ""},
		{"a class it did not count", inc("a", "ip:45.134.26.7", "per-address", host, 48, 52, []abusewatch.Class{abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser}), []abusewatch.Incident{recur}, ""},
		{"within a reported network incident", inc("a", "ip:45.134.26.7", "per-address", host, 1, 2, fail), []abusewatch.Incident{network}, "net"},
		{"a sweep holds only part of an address's lines", inc("a", "ip:45.134.26.7", "per-address", host, 48, 52, fail), []abusewatch.Incident{sweep}, ""},
		{"a follow-up of its own key", inc("b", "recur:45.134.26.7/32", "recurrence", host, 240, 240, fail), []abusewatch.Incident{recur}, ""},
		{"none reported", inc("a", "ip:45.134.26.7", "per-address", host, 48, 52, fail), nil, ""},
	} {
		if got := HeldByReported(c.inc, c.reported); got != c.want {
			t.Errorf("%s: HeldByReported = %q; want %q", c.name, got, c.want)
		}
	}
}
