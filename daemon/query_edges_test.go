package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// ip and net set each day's counters against the raw events of the whole day: those of
// the first day before since and of today after now are read aside. Read with no time
// zone, they made the query panic (review 21c R1): an event of the day of since but
// before it (`ip` without the daemon), or one dated later today than now (a host whose
// clock is ahead: `ip` over the socket got EOF).
func TestAQueryReadsTheEventsOfItsFirstAndLastDayOutsideItsRange(t *testing.T) {
	p := correlatePipeline(t, "")
	a := netip.MustParseAddr("45.134.26.17")
	since := time.Date(2026, 11, 7, 12, 0, 0, 0, time.UTC)
	now := time.Date(2026, 12, 7, 9, 51, 0, 0, time.UTC)
	var evs []abusewatch.Event
	for _, at := range []time.Time{since.Add(-9 * time.Hour), now.Add(-time.Hour), now.Add(40 * time.Minute)} {
		evs = append(evs, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a})
	}
	if _, err := p.store.Commit(evs, nil); err != nil {
		t.Fatal(err)
	}
	for _, net := range []string{"45.134.26.17/32", "45.134.26.0/24"} {
		info, err := QueryNetwork(p.store, netip.MustParsePrefix(net), since, now, time.UTC, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.Events != 1 || info.CountedEvents != 0 {
			t.Errorf("%s: %d raw events, %d counted; want the one in the range, none counted", net, info.Events, info.CountedEvents)
		}
	}
}
