package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

// A year-less RFC 3164 time gets the latest year that puts it no more than a month
// after the message arrived: Dec 31 on Jan 1 is last year's, a sender whose clock is
// days fast is this year's. A time more than a day after it arrived, in any format, is dated when it
// arrived (future), and ok stays true: a year back, a fast clock's attacks were a year
// old and never reported.
func TestSyslogRecordYearAndFutureBoundaries(t *testing.T) {
	l := &syslogListener{loc: time.UTC}
	peer := netip.MustParseAddr("192.0.2.10")
	newYear := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	const msg = " web1 sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	for _, c := range []struct {
		name   string
		loc    *time.Location
		read   time.Time
		raw    string
		want   string // the record's time
		future bool
	}{
		{"Dec 31 on Jan 1: last year", time.UTC, newYear, "<38>Dec 31 23:59:50" + msg, "2026-12-31T23:59:50.000000Z", false},
		{"Jan 1 on Dec 31, a day ahead: next year", time.UTC, newYear.Add(-time.Second), "<38>Jan  1 23:59:59" + msg, "2027-01-01T23:59:59.000000Z", false},
		{"Jan 2 on Dec 31, a day and a second ahead: arrival", time.UTC, newYear.Add(-time.Second), "<38>Jan  2 00:00:00" + msg, "2026-12-31T23:59:59.000000Z", true},
		{"Dec 7 on Dec 7: this year", time.UTC, time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC), "<38>Dec  7 02:17:05" + msg, "2026-12-07T02:17:05.000000Z", false},
		{"Dec 31 on Dec 7, a clock 24 days fast: arrival", time.UTC, time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC), "<38>Dec 31 23:59:50" + msg, "2026-12-07T02:17:05.000000Z", true},
		{"Dec 9 on Dec 7, a clock two days fast: arrival", time.UTC, time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC), "<38>Dec  9 02:17:05" + msg, "2026-12-07T02:17:05.000000Z", true},
		{"Jun 1 on Dec 7: this year, half a year ago", time.UTC, time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC), "<38>Jun  1 00:00:00" + msg, "2026-06-01T00:00:00.000000Z", false},
		{"Jan 8 on Dec 7, a month and a day ahead: a year ago", time.UTC, time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC), "<38>Jan  8 02:17:06" + msg, "2026-01-08T02:17:06.000000Z", false},
		{"Feb 29 in 2029: 2028", time.UTC, time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC), "<38>Feb 29 12:00:00" + msg, "2028-02-29T12:00:00.000000Z", false},
		{"Dec 31 in Berlin on Jan 1 UTC", berlin, newYear, "<38>Dec 31 23:59:50" + msg, "2026-12-31T22:59:50.000000Z", false},
		{"3164 IPv6 host, Dec 31 on Jan 1", time.UTC, newYear, "<38>Dec 31 23:59:50 2001:db8::1 sshd[7]: x", "2026-12-31T23:59:50.000000Z", false},
		{"5424 a day ahead: believed", time.UTC, newYear, "<38>1 2027-01-02T00:00:00Z web1 sshd 7 - - x", "2027-01-02T00:00:00.000000Z", false},
		{"5424 a day and a microsecond ahead: arrival", time.UTC, newYear, "<38>1 2027-01-02T00:00:00.000001Z web1 sshd 7 - - x", "2027-01-01T00:00:00.000000Z", true},
		{"5424 nanoseconds a day ahead: believed", time.UTC, newYear, "<38>1 2027-01-02T00:00:00.000000000Z web1 sshd 7 - - x", "", false},
		{"5424 nanoseconds past a day ahead: arrival", time.UTC, newYear, "<38>1 2027-01-02T00:00:00.000000001Z web1 sshd 7 - - x", "2027-01-01T00:00:00.000000Z", true},
		{"3164 RFC 3339 a year ahead: arrival", time.UTC, newYear, "<38>2028-01-01T00:00:00Z web1 sshd[7]: x", "2027-01-01T00:00:00.000000Z", true},
	} {
		l.loc = c.loc
		rec, ok, future := syslogRecord(l.parser(), []byte(c.raw), peer, c.read, c.loc, nil)
		if !ok || !future.IsZero() != c.future {
			t.Errorf("%s: ok %v, future %v; want future: %v", c.name, ok, future, c.future)
		}
		if c.want == "" { // left to detect as it came
			if rec.Line != c.raw {
				t.Errorf("%s: record %q; want it as it came", c.name, rec.Line)
			}
			continue
		}
		if got, _, _ := strings.Cut(rec.Line, " "); got != c.want {
			t.Errorf("%s: record %q; want it dated %s", c.name, rec.Line, c.want)
		}
		h, err := detect.ParseHeader(rec.Line, c.read, c.loc)
		if err != nil || h.Time.After(c.read.Add(24*time.Hour)) {
			t.Errorf("%s: detect reads %q as %v, %v", c.name, rec.Line, h.Time, err)
		}
	}
}

// Over a real connection: a line dated yesterday is dated as a file line is, and a sender
// whose clock is two days ahead gets its messages dated when they arrived, counted and
// logged with its address, in RFC 3164 as in RFC 5424.
func TestSyslogFutureTimeIsDatedOnArrival(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp := dialFrom(t, "127.0.0.1", run.tcp)

	yesterday := time.Now().UTC().Add(-24*time.Hour).Format(time.Stamp) + " web1 sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	before := time.Now()
	udp.Write([]byte("<38>" + yesterday))
	l := run.record(t)
	file, err := detect.ParseHeader(yesterday, before, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	got, err := detect.ParseHeader(l.rec.Line, before, time.UTC)
	if err != nil || !got.Time.Equal(file.Time) || got.Time.After(time.Now().Add(24*time.Hour)) {
		t.Errorf("record %q dated %v (%v); a file line is dated %v", l.rec.Line, got.Time, err, file.Time)
	}

	for i, ahead := range []time.Duration{time.Hour, 48 * time.Hour} {
		sent := time.Now().Add(ahead).UTC().Truncate(time.Second)
		raw := fmt.Sprintf("<38>1 %s web1 sshd 7 - - Failed password for root from 45.134.26.112 port 5 ssh2", sent.Format(time.RFC3339))
		before := time.Now()
		fmt.Fprintf(tcp, "%d %s", len(raw), raw)
		l := run.record(t)
		h, err := detect.ParseHeader(l.rec.Line, before, time.UTC)
		if err != nil {
			t.Fatalf("%q: %v", l.rec.Line, err)
		}
		switch {
		case i == 0 && !h.Time.Equal(sent):
			t.Errorf("an hour ahead: record %q; want it dated %s as sent", l.rec.Line, sent)
		case i == 1 && (h.Time.Before(before.Truncate(time.Microsecond)) || h.Time.After(time.Now())):
			t.Errorf("two days ahead: record %q; want it dated when it arrived", l.rec.Line)
		}
	}
	// RFC 3164, two days ahead: this year's date, not last year's.
	ahead := time.Now().UTC().Add(48 * time.Hour).Format(time.Stamp)
	before = time.Now()
	udp.Write([]byte("<38>" + ahead + " web1 sshd[7]: Failed password for root from 45.134.26.113 port 5 ssh2"))
	l = run.record(t)
	if h, err := detect.ParseHeader(l.rec.Line, before, time.UTC); err != nil || h.Time.Before(before.Truncate(time.Microsecond)) || h.Time.After(time.Now()) {
		t.Errorf("RFC 3164 two days ahead: record %q (%v); want it dated when it arrived", l.rec.Line, err)
	}
	waitCounter(t, "errors", &run.c.Errors, 2)
	if n := run.l.future.Load(); n != 2 {
		t.Errorf("%d messages counted as dated ahead; want 2", n)
	}
	run.log.wait(t, "dated more than a day after it arrived", "peer=127.0.0.1", "sent=")
}
