package correlate_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// rateOpts is the default rate rule: ten times the usual hourly level over a week, at
// least 100 events.
var rateOpts = correlate.Options{Threshold: 100000, Window: time.Minute,
	Rate: correlate.RateRule{Factor: 10, Baseline: 7 * 24 * time.Hour, Min: 100}}

// hourly makes n failed logins from distinct addresses in the hour that starts at hour,
// k numbering the addresses.
func hourly(hour time.Time, n int, k *int) []abusewatch.Event {
	var out []abusewatch.Event
	for i := range n {
		*k++
		out = append(out, abusewatch.Event{Time: hour.Add(time.Duration(i) * time.Hour / time.Duration(n)), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(fmt.Sprintf("5.%d.%d.1", *k/250, *k%250)), Host: "web1", Line: fmt.Sprintf("Failed password %d", *k)})
	}
	return out
}

// The usual level is the hours the store has counted in the baseline, not the whole
// baseline: 29 hours of 20 an hour made 150 in an hour an anomaly (factor 10).
func TestRateAnomalyWithLessHistoryThanTheBaseline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history int // hours of 20 events before the burst's hour
		quiet   int // of them, the last ones without events
		burst   int
		want    int
	}{
		{"29 hours at 20, 150: 7.5 times", 29, 0, 150, 0},
		{"29 hours at 20, 199: under 10 times", 29, 0, 199, 0},
		{"29 hours at 20, 200: 10 times", 29, 0, 200, 1},
		{"a week at 20, 199", 168, 0, 199, 0},
		{"a week at 20, 200", 168, 0, 200, 1},
		{"180 hours at 20, 199: the baseline is a week", 180, 0, 199, 0},
		{"48 hours, the last 24 quiet: usual 10, 100", 48, 24, 100, 1},
		{"48 hours, the last 24 quiet: usual 10, 99 under the minimum", 48, 24, 99, 0},
		{"23 hours: too little history", 23, 0, 1000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, rateOpts)
			burstHour := t0.Add(10 * 24 * time.Hour)
			k := 0
			var base []abusewatch.Event
			for i := tc.history; i > tc.quiet; i-- {
				base = append(base, hourly(burstHour.Add(-time.Duration(i)*time.Hour), 20, &k)...)
			}
			if incs := h.feed(base...); len(incs) != 0 {
				t.Fatalf("the history made %+v", incs)
			}
			incs := h.feed(hourly(burstHour, tc.burst, &k)...)
			if got := rules(incs)["rate-anomaly"]; got != tc.want {
				t.Fatalf("%d rate anomalies (%+v), want %d", got, incs, tc.want)
			}
		})
	}
}

// A pass over the events a rate anomaly was made from, read in any batches before,
// changes nothing: its evidence sample was drawn again from the old sample and the
// same events.
func TestRateAnomalyUnchangedByAPassOverTheSameEvents(t *testing.T) {
	for _, batches := range []int{1, 7} {
		t.Run(fmt.Sprintf("read in %d batches", batches), func(t *testing.T) {
			h := newHarness(t, rateOpts)
			burstHour := t0.Add(10 * 24 * time.Hour)
			k := 0
			var base []abusewatch.Event
			for i := 168; i > 0; i-- {
				base = append(base, hourly(burstHour.Add(-time.Duration(i)*time.Hour), 20, &k)...)
			}
			h.feed(base...)
			burst := hourly(burstHour, 700, &k)
			var made []abusewatch.Incident
			for b := range batches {
				made = append(made, h.feed(burst[b*len(burst)/batches:(b+1)*len(burst)/batches]...)...)
			}
			if rules(made)["rate-anomaly"] == 0 {
				t.Fatalf("no rate anomaly: %+v", made)
			}
			for pass := range 2 {
				c, err := correlate.New(rateOpts, h.st, h.st, h.st)
				if err != nil {
					t.Fatal(err)
				}
				var changed []abusewatch.Incident
				if _, err := c.Recorrelate(context.Background(), h.st, burstHour.Add(-3*time.Hour), burstHour.Add(time.Hour), func(incs []abusewatch.Incident) error {
					changed = append(changed, incs...)
					return h.st.PutIncidents(incs)
				}); err != nil {
					t.Fatal(err)
				}
				if len(changed) != 0 {
					t.Errorf("pass %d changed %d incidents: %+v", pass+1, len(changed), changed[0])
				}
			}
		})
	}
}
