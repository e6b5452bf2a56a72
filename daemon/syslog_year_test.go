package daemon

import (
	"cmp"
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
// days fast is this year's. The record keeps the time as the host wrote it, and detect
// reads there the time syslogRecord gives (sent). The rule of clock.go then dates a
// time more than maxSkew after it arrived, in any format, when it arrived (clockAhead),
// and a year-less one that the guess put more than max_age back too (clockFast: a
// clock more than a month fast, not a year behind).
func TestSyslogRecordYearAndFutureBoundaries(t *testing.T) {
	l := &syslogListener{loc: time.UTC}
	peer := netip.MustParseAddr("192.0.2.10")
	newYear := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	dec7 := time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	const msg = " web1 sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	const month = 30 * 24 * time.Hour
	for _, c := range []struct {
		name    string
		loc     *time.Location
		read    time.Time
		raw     string
		maxAge  time.Duration
		sent    string       // the time detect reads in the record
		line    string       // the record; "": raw without its <PRI>
		verdict clockVerdict // clockAhead and clockFast are dated when they arrived
	}{
		{"Dec 31 on Jan 1: last year", time.UTC, newYear, "<38>Dec 31 23:59:50" + msg, month, "2026-12-31T23:59:50Z", "", clockBelieved},
		{"Jan 1 on Jan 1, 5 minutes ahead: believed", time.UTC, newYear, "<38>Jan  1 00:05:00" + msg, month, "2027-01-01T00:05:00Z", "", clockBelieved},
		{"Jan 1 on Jan 1, 5 minutes and a second ahead: arrival", time.UTC, newYear, "<38>Jan  1 00:05:01" + msg, month, "2027-01-01T00:05:01Z", "", clockAhead},
		{"Jan 1 on Dec 31, a day ahead: next year, arrival", time.UTC, newYear.Add(-time.Second), "<38>Jan  1 23:59:59" + msg, month, "2027-01-01T23:59:59Z", "", clockAhead},
		{"Dec 7 on Dec 7: this year", time.UTC, dec7, "<38>Dec  7 02:17:05" + msg, month, "2026-12-07T02:17:05Z", "", clockBelieved},
		{"Dec 31 on Dec 7, a clock 24 days fast: arrival", time.UTC, dec7, "<38>Dec 31 23:59:50" + msg, month, "2026-12-31T23:59:50Z", "", clockAhead},
		{"Dec 7 on Dec 7, 14 hours ahead (Tokyo without an offset): arrival", time.UTC, dec7, "<38>Dec  7 16:17:05" + msg, month, "2026-12-07T16:17:05Z", "", clockAhead},
		{"Jun 1 on Dec 7: this year, half a year ago, no max_age", time.UTC, dec7, "<38>Jun  1 00:00:00" + msg, 0, "2026-06-01T00:00:00Z", "", clockBelieved},
		{"Jan 8 on Dec 7, a month and a day ahead, no max_age: a year ago", time.UTC, dec7, "<38>Jan  8 02:17:06" + msg, 0, "2026-01-08T02:17:06Z", "", clockBelieved},
		{"Jan 8 on Dec 7, a month and a day ahead: a clock that fast, arrival", time.UTC, dec7, "<38>Jan  8 02:17:06" + msg, month, "2026-01-08T02:17:06Z", "", clockFast},
		{"Feb 7 on Dec 7, two months ahead: a clock that fast, arrival", time.UTC, dec7, "<38>Feb  7 02:17:06" + msg, month, "2026-02-07T02:17:06Z", "", clockFast},
		{"Feb 29 in 2029: 2028", time.UTC, time.Date(2029, 3, 1, 0, 0, 0, 0, time.UTC), "<38>Feb 29 12:00:00" + msg, 0, "2028-02-29T12:00:00Z", "", clockBelieved},
		{"Dec 31 in Berlin on Jan 1 UTC", berlin, newYear, "<38>Dec 31 23:59:50" + msg, month, "2026-12-31T22:59:50Z", "", clockBelieved},
		{"3164 IPv6 host, Dec 31 on Jan 1", time.UTC, newYear, "<38>Dec 31 23:59:50 2001:db8::1 sshd[7]: x", month, "2026-12-31T23:59:50Z", "", clockBelieved},
		{"5424 five minutes ahead: believed", time.UTC, newYear, "<38>1 2027-01-01T00:05:00Z web1 sshd 7 - - x", month, "2027-01-01T00:05:00Z", "2027-01-01T00:05:00Z web1 sshd[7]: x", clockBelieved},
		{"5424 five minutes and a microsecond ahead: arrival", time.UTC, newYear, "<38>1 2027-01-01T00:05:00.000001Z web1 sshd 7 - - x", month,
			"2027-01-01T00:05:00.000001Z", "2027-01-01T00:05:00.000001Z web1 sshd[7]: x", clockAhead},
		{"5424 nanoseconds, left as it came: believed", time.UTC, newYear, "<38>1 2027-01-01T00:05:00.000000000Z web1 sshd 7 - - x", month,
			"2027-01-01T00:05:00Z", "<38>1 2027-01-01T00:05:00.000000000Z web1 sshd 7 - - x", clockBelieved},
		{"5424 nanoseconds past five minutes ahead: arrival", time.UTC, newYear, "<38>1 2027-01-01T00:05:00.000000001Z web1 sshd 7 - - x", month,
			"2027-01-01T00:05:00.000000001Z", "<38>1 2027-01-01T00:05:00.000000001Z web1 sshd 7 - - x", clockAhead},
		{"5424 two months ahead: arrival", time.UTC, dec7, "<38>1 2027-02-07T02:17:06Z web1 sshd 7 - - x", month, "2027-02-07T02:17:06Z", "2027-02-07T02:17:06Z web1 sshd[7]: x", clockAhead},
		{"5424 years behind: no event", time.UTC, dec7, "<38>1 2020-03-01T10:00:00Z web1 sshd 7 - - x", month, "2020-03-01T10:00:00Z", "2020-03-01T10:00:00Z web1 sshd[7]: x", clockBehind},
		{"3164 RFC 3339 a year ahead: arrival", time.UTC, newYear, "<38>2028-01-01T00:00:00Z web1 sshd[7]: x", month, "2028-01-01T00:00:00Z", "", clockAhead},
	} {
		l.loc = c.loc
		rec, ok, sent := syslogRecord(l.parser(), []byte(c.raw), peer, c.read, c.loc, nil)
		want, err := time.Parse(time.RFC3339Nano, c.sent)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !rec.Live || !sent.Equal(want) {
			t.Errorf("%s: ok %v, live %v, sent %v; want it sent %v", c.name, ok, rec.Live, sent.UTC(), want)
		}
		line := cmp.Or(c.line, strings.TrimPrefix(c.raw, "<38>"))
		if rec.Line != line {
			t.Errorf("%s: record %q; want %q, the time as the host wrote it", c.name, rec.Line, line)
		}
		if h, err := detect.ParseLiveHeader(rec.Line, c.read, c.loc); err != nil || !h.Time.Equal(want) {
			t.Errorf("%s: detect reads %q as %v, %v; want %v", c.name, rec.Line, h.Time, err, want)
		}
		zone := c.loc.String()
		j := clockRule{maxAge: c.maxAge, zone: zone}.judge(rec, sent)
		if j.verdict != c.verdict {
			t.Errorf("%s: verdict %v; want %v", c.name, j.verdict, c.verdict)
		}
		switch dated := j.time; {
		case (c.verdict == clockAhead || c.verdict == clockFast) && !dated.Equal(c.read):
			t.Errorf("%s: dated %v; want it dated when it arrived, %v", c.name, dated, c.read)
		case dated.After(c.read):
			t.Errorf("%s: dated %v, after it arrived (%v)", c.name, dated, c.read)
		}
	}
}

// Over a real connection: the listener keeps each message's time as it was sent, and
// counts and logs, with the sender's address and the offset seen, a sender more than
// maxSkew ahead of the time it arrived, in RFC 3164 as in RFC 5424 (the pipeline dates
// its events when they arrived: TestASyslogHostInAnotherZoneWithoutOffsetIsDatedOnArrival).
// A line of yesterday, or two minutes ahead (a skew that is normal), is not counted.
func TestSyslogFutureTimeIsCountedOnArrival(t *testing.T) {
	run := startSyslog(t, SyslogConfig{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Allow: []string{"127.0.0.1"}}, nil)
	udp, err := net.Dial("udp", run.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp := dialFrom(t, "127.0.0.1", run.tcp)
	const failed = " web1 sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	for _, c := range []struct {
		name  string
		stamp string
		proto string
	}{
		{"RFC 3164 of yesterday", time.Now().UTC().Add(-24 * time.Hour).Format(time.Stamp), "udp"},
		{"RFC 5424 two minutes ahead", time.Now().UTC().Add(2 * time.Minute).Format(time.RFC3339), "tcp"},
		{"RFC 5424 an hour ahead", time.Now().UTC().Add(time.Hour).Format(time.RFC3339), "tcp"},
		{"RFC 3164 two days ahead", time.Now().UTC().Add(48 * time.Hour).Format(time.Stamp), "udp"},
	} {
		want := c.stamp + failed
		if c.proto == "udp" {
			udp.Write([]byte("<38>" + want))
		} else {
			fmt.Fprintf(tcp, "<38>1 %s web1 sshd 7 - - %s\n", c.stamp, strings.TrimPrefix(failed, " web1 sshd[7]: "))
		}
		if l := run.record(t); l.rec.Line != want || !l.rec.Live {
			t.Errorf("%s: record %q (live %v); want %q, the time as sent", c.name, l.rec.Line, l.rec.Live, want)
		}
	}
	waitCounter(t, "errors", &run.c.Errors, 2)
	if n := run.l.future.Load(); n != 2 {
		t.Errorf("%d messages counted as dated ahead; want 2", n)
	}
	run.log.wait(t, "dated more than 5 minutes after it arrived", "peer=127.0.0.1", "sent=", "ahead=")
}
