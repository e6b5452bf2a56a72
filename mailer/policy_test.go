package mailer

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	p := Policy{RetryMin: time.Minute, RetryMax: 10 * time.Minute}
	for n, want := range map[int]time.Duration{1: time.Minute, 2: 2 * time.Minute, 3: 4 * time.Minute, 4: 8 * time.Minute, 5: 10 * time.Minute, 50: 10 * time.Minute} {
		if got := p.Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
}

func report(emails string, network string) abusewatch.Report {
	r := abusewatch.Report{ID: "new", Contact: abusewatch.Contact{Emails: strings.Split(emails, ",")}}
	if network != "" {
		r.Contact.Network = netip.MustParsePrefix(network)
	}
	return r
}

func TestCooldownPerAddressAndPerNetwork(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	p := Policy{Cooldown: 7 * 24 * time.Hour}
	sent := []Sent{{Report: "old", Time: now.Add(-48 * time.Hour), Emails: []string{"Abuse@ISP.example"}, Network: netip.MustParsePrefix("203.0.113.0/24")}}

	until, why := p.Hold(report("abuse@isp.example", "198.51.100.0/24"), sent, now)
	if want := now.Add(5 * 24 * time.Hour); !until.Equal(want) || !strings.Contains(why, "cooldown") {
		t.Errorf("same address: until %v (%q), want %v", until, why, want)
	}
	until, _ = p.Hold(report("noc@other.example", "203.0.113.0/24"), sent, now)
	if until.IsZero() {
		t.Error("same network, other address: not held")
	}
	if until, why := p.Hold(report("noc@other.example", "198.51.100.0/24"), sent, now); !until.IsZero() {
		t.Errorf("another party is held: %v %q", until, why)
	}
	if until, _ := p.Hold(report("abuse@isp.example", ""), sent, now.Add(8*24*time.Hour)); !until.IsZero() {
		t.Error("held after the cooldown ended")
	}
}

// A report dated after now went while the clock was fast, which has been set back
// since: it holds neither its address nor its network, as it holds no limit, while an
// earlier one in the cooldown still does.
func TestCooldownLeavesOutASendDatedAfterNow(t *testing.T) {
	now := time.Date(2026, 11, 29, 7, 30, 0, 0, time.UTC)
	p := Policy{Cooldown: 7 * 24 * time.Hour}
	fast := Sent{Report: "fast", Time: time.Date(2027, 11, 20, 7, 30, 0, 0, time.UTC), Emails: []string{"abuse@hostco.example"},
		Network: netip.MustParsePrefix("45.134.26.0/24")}
	for _, r := range []abusewatch.Report{report("abuse@hostco.example", ""), report("noc@other.example", "45.134.26.0/24")} {
		if until, why := p.Hold(r, []Sent{fast}, now); !until.IsZero() {
			t.Errorf("%v: held by a report dated a year after now until %v (%q)", r.Contact.Emails, until, why)
		}
		if s, ok := p.LastTo(r.Contact, []Sent{fast}, now); ok {
			t.Errorf("%v: LastTo gives the report dated after now: %v", r.Contact.Emails, s.Time)
		}
	}
	earlier := Sent{Report: "earlier", Time: now.Add(-24 * time.Hour), Emails: []string{"abuse@hostco.example"}}
	until, why := p.Hold(report("abuse@hostco.example", ""), []Sent{earlier, fast}, now)
	if want := earlier.Time.Add(p.Cooldown); !until.Equal(want) || !strings.Contains(why, "cooldown") {
		t.Errorf("the report of the day before: held until %v (%q), want %v", until, why, want)
	}
}

func TestDomainHourlyLimitAndDailyCap(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var sent []Sent
	for i := range 3 {
		sent = append(sent, Sent{Report: "r", Time: now.Add(time.Duration(-50+10*i) * time.Minute), Emails: []string{"a" + string(rune('0'+i)) + "@big.example"}})
	}
	p := Policy{DomainPerHour: 3}
	until, why := p.Hold(report("z@big.example", ""), sent, now)
	if want := now.Add(10 * time.Minute); !until.Equal(want) || !strings.Contains(why, "big.example") {
		t.Errorf("domain limit: until %v (%q), want %v", until, why, want)
	}
	if until, _ := p.Hold(report("z@small.example", ""), sent, now); !until.IsZero() {
		t.Error("another domain is held by big.example's limit")
	}
	p = Policy{DailyCap: 2}
	until, why = p.Hold(report("z@small.example", ""), sent, now)
	if want := sent[1].Time.Add(24 * time.Hour); !until.Equal(want) || !strings.Contains(why, "cap") {
		t.Errorf("daily cap: until %v (%q), want %v", until, why, want)
	}
}
