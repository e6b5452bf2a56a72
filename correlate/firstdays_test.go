package correlate

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// Packed events come back as they went in, every field, the oldest n by time and then
// Seq whatever order they were offered in.
func TestPackedEventsKeepTheOldestWhole(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	addrs := []netip.Addr{netip.MustParseAddr("80.94.95.115"), netip.MustParseAddr("2001:67c:2e8::1"),
		netip.MustParseAddr("::ffff:81.2.69.10"), {}}
	r := rand.New(rand.NewPCG(5, 6))
	var all []abusewatch.Event
	for i := range 60 {
		e := abusewatch.Event{Seq: uint64(1000 - i), Time: t0.Add(time.Duration(r.IntN(20)) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: addrs[i%len(addrs)], Name: fmt.Sprint("host", i), Port: uint16(40000 + i), User: fmt.Sprint("user", i%3),
			Service: "sshd", Host: "web1", Source: "/var/log/auth.log", Line: fmt.Sprintf("Failed password for user%d port %d", i%3, 40000+i),
			Proto: "TCP", Flags: "SYN", LocalPort: 22}
		if i%5 == 0 {
			e.Time = e.Time.In(time.FixedZone("", 3600))
		}
		all = append(all, e)
	}
	var p packedEvents
	for i := range all {
		p.insert(&all[i], 20)
	}
	want := slices.Clone(all)
	slices.SortStableFunc(want, func(a, b abusewatch.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return int(a.Seq) - int(b.Seq)
	})
	want = want[:20]
	got := p.unpack()
	if len(got) != len(want) {
		t.Fatalf("%d events back, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		_, goff := g.Time.Zone()
		_, woff := w.Time.Zone()
		if !g.Time.Equal(w.Time) || goff != woff {
			t.Errorf("event %d: time %s, want %s", i, g.Time, w.Time)
		}
		g.Time, w.Time = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("event %d:\n%+v\nwant\n%+v", i, g, w)
		}
	}
}
