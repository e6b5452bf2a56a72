package daemon

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// eventsOf are the events of addr in cfg's store, dated from since to until.
func eventsOf(t *testing.T, cfg *Config, addr string, since, until time.Time) []abusewatch.Event {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	events, err := st.EventsByAddr(netip.MustParseAddr(addr), since, until)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// syslogDaemon runs the daemon of a store config with a syslog listener on loopback (TCP
// and UDP) and extra config after it; it returns the daemon, its log, the listener's
// addresses and stop.
func syslogDaemon(t *testing.T, dir, extra string, threshold int) (cfg *Config, d *Daemon, tap *logTap, tcp net.Conn, udp net.Conn, stop func() error) {
	t.Helper()
	cfg = observeConfig(t, dir, "[syslog]\ntcp = [\"127.0.0.1:0\"]\nudp = [\"127.0.0.1:0\"]\nallow = [\"127.0.0.1\"]\n"+extra, threshold)
	tap = &logTap{more: make(chan struct{})}
	d, stop = runDaemon(t, cfg, tap)
	addr := func(proto string) string {
		return regexp.MustCompile(`proto=` + proto + ` addr=(\S+)`).FindStringSubmatch(tap.wait(t, "syslog: listening", "proto="+proto))[1]
	}
	tcp = dialFrom(t, "127.0.0.1", addr("tcp"))
	udp, err := net.Dial("udp", addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	return cfg, d, tap, tcp, udp, stop
}

// Review 34, 3: a host in Tokyo logs RFC 3164 in its local time, without an offset, to a
// daemon whose detect.timezone is New York: its lines say 14 hours after they arrive,
// less than a day. Believed, the incident was mailed at once with its "First seen" 14
// hours after the mail's Date, and `ip` (whose range ends at now) and the summary
// counted none of its events. A line cannot be from the future: each is dated by the
// host's offset, its last message's (syslog_ahead.go), the last when it arrived, the
// others by their own seconds before it; counted as redated, and the host warned of with
// the offset seen, once, by its name (the pipeline) and by the sender's address (the
// listener). Another host, two
// minutes fast (a skew that is normal), is not warned of, but is not dated after it
// arrived either; one with its offset, a minute ago, is dated as it says.
func TestASyslogHostInAnotherZoneWithoutOffsetIsDatedOnArrival(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, d, tap, tcp, udp, stop := syslogDaemon(t, dir, "[detect]\ntimezone = \"America/New_York\"\n", 5)
	before := time.Now()
	for i := range 6 {
		fmt.Fprintf(tcp, "<38>%s hostd sshd[%d]: Failed password for root from 45.134.26.63 port %d ssh2\n",
			time.Now().In(tokyo).Format(time.Stamp), 400+i, 50000+i)
	}
	fmt.Fprintf(udp, "<38>1 %s hoste sshd 500 - - Failed password for root from 45.134.26.64 port 50000 ssh2",
		time.Now().Add(2*time.Minute).UTC().Format(time.RFC3339Nano))
	believed := time.Now().Add(-time.Minute).Truncate(time.Second)
	fmt.Fprintf(tcp, "<38>1 %s hostx sshd 600 - - Failed password for root from 45.134.26.65 port 50000 ssh2\n", believed.In(tokyo).Format(time.RFC3339))
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 8)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// What `abusewatch ip` counts: the events up to now.
	if events := eventsOf(t, cfg, "45.134.26.63", before.Add(-time.Hour), after); len(events) != 6 {
		t.Errorf("%d events of hostd's attack up to now; want 6 (all: %v)", len(events), eventTimes(t, cfg, "45.134.26.63"))
	}
	for _, addr := range []string{"45.134.26.63", "45.134.26.64"} {
		for _, at := range eventTimes(t, cfg, addr) {
			// hostd's times are seconds: the one before its last may be a second earlier.
			if at.Before(before.Truncate(time.Microsecond).Add(-time.Second)) || at.After(after) {
				t.Errorf("an event of %s dated %s; want it dated when it arrived (%s to %s)", addr, at.UTC(), before.UTC(), after.UTC())
			}
		}
	}
	if times := eventTimes(t, cfg, "45.134.26.65"); len(times) != 1 || !times[0].Equal(believed) {
		t.Errorf("hostx's message of a minute ago made events dated %v; want %s", times, believed)
	}
	st := openTestStore(t, cfg)
	incs, _, err := st.IncidentsSince(before.Add(-time.Hour), 0)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) == 0 {
		t.Error("no incident of hostd's attack")
	}
	for _, inc := range incs {
		if inc.First.After(after) || inc.Last.After(after) {
			t.Errorf("incident %s of %s from %s to %s: after it was made (%s)", inc.ID, inc.Addr, inc.First.UTC(), inc.Last.UTC(), after.UTC())
		}
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 6 {
		t.Errorf("%d messages counted as redated; want hostd's 6", n)
	}
	if n := tap.count("WARN", "dated more than 5 minutes after it was written: every line of the host among them is dated that much earlier", "source=syslog", "host=hostd", "ahead=1"); n != 1 {
		t.Errorf("%d warnings of hostd's clock with its offset; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
	if n := tap.count("WARN", "syslog: a message dated more than 5 minutes after it arrived", "peer=127.0.0.1", "ahead=1"); n != 1 {
		t.Errorf("%d warnings of the sender's clock with its offset; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
	if n := tap.count("WARN", "host=hoste"); n != 0 {
		t.Errorf("hoste, two minutes fast, warned of %d times; want none", n)
	}
}

// Review 34, 7: a sender two months fast, in RFC 3164 (no year) and in RFC 5424. Its
// year-less time, a month and more ahead, was taken as last year's, more than
// policy.max_age back: counted too old, dropped, and its clock said to be far behind,
// while the same message with its year was dated when it arrived and kept. Both are
// dated when they arrived, counted as redated, and warned of as fast.
func TestAYearlessSyslogSenderMonthsFastIsDatedOnArrival(t *testing.T) {
	dir := t.TempDir()
	cfg, d, tap, tcp, _, stop := syslogDaemon(t, dir, "[detect]\ntimezone = \"UTC\"\n", 1)
	if cfg.Policy.MaxAge.Duration != 30*24*time.Hour {
		t.Fatalf("policy.max_age %v; the test wants the default, 30 days", cfg.Policy.MaxAge)
	}
	before := time.Now()
	for i := range 6 {
		fast := time.Now().Add(62*24*time.Hour + time.Duration(i)*time.Second).UTC()
		fmt.Fprintf(tcp, "<38>%s hostf sshd[%d]: Failed password for root from 45.134.26.90 port %d ssh2\n", fast.Format(time.Stamp), 800+i, 50000+i)
		fmt.Fprintf(tcp, "<38>1 %s hostg sshd %d - - Failed password for root from 45.134.26.91 port %d ssh2\n", fast.Format(time.RFC3339), 900+i, 50000+i)
	}
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 12)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"45.134.26.90", "45.134.26.91"} {
		times := eventTimes(t, cfg, addr)
		if len(times) != 6 {
			t.Errorf("%d events of %s; want 6", len(times), addr)
		}
		for _, at := range times {
			if at.Before(before.Truncate(time.Microsecond)) || at.After(after) {
				t.Errorf("an event of %s dated %s; want it dated when it arrived (%s to %s)", addr, at.UTC(), before.UTC(), after.UTC())
			}
		}
	}
	if n := d.Pipeline().Counters.Stale.Load(); n != 0 {
		t.Errorf("%d messages counted too old; want none", n)
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 12 {
		t.Errorf("%d messages counted as redated; want 12", n)
	}
	if n := tap.count("WARN", "more than a month fast", "host=hostf", "ahead=62 days"); n != 1 {
		t.Errorf("%d warnings of hostf's fast clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
	if n := tap.count("WARN", "dated more than 5 minutes after it was read", "host=hostg", "ahead=62 days"); n != 1 {
		t.Errorf("%d warnings of hostg's fast clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
	if n := tap.count("WARN", "far behind"); n != 0 {
		t.Errorf("%d warnings of a clock far behind; want none. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
}

// Review 34, 8: the evidence of a syslog message is the line as its host wrote it, with
// the timestamp's text as it came ("Dec  7 13:03:12", not "2026-12-07T13:03:12.000000Z"
// that the host never wrote), so that the admin finds it in the host's own log; a host
// whose clock says 2099 keeps its 2099 in the line, while its event is dated when it
// arrived.
func TestSyslogEvidenceKeepsTheTimeAsTheHostWroteIt(t *testing.T) {
	dir := t.TempDir()
	cfg, d, _, tcp, udp, stop := syslogDaemon(t, dir, "[detect]\ntimezone = \"UTC\"\n", 1)
	sent := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	hosta := fmt.Sprintf("%s hosta sshd[100]: Failed password for root from 45.134.26.61 port 50000 ssh2", sent.Format(time.Stamp))
	fmt.Fprintf(udp, "<38>%s", hosta)
	fmt.Fprintf(tcp, "<38>1 2099-01-01T00:00:00Z hostc sshd 300 - - Failed password for root from 45.134.26.62 port 50000 ssh2\n")
	before := time.Now()
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 2)
	after := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	ea := eventsOf(t, cfg, "45.134.26.61", sent.Add(-time.Hour), after)
	if len(ea) != 1 || ea[0].Line != hosta || !ea[0].Time.Equal(sent) {
		t.Errorf("hosta's events: %+v; want one dated %s, its line %q", ea, sent, hosta)
	}
	ec := eventsOf(t, cfg, "45.134.26.62", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	const hostc = "2099-01-01T00:00:00Z hostc sshd[300]: Failed password for root from 45.134.26.62 port 50000 ssh2"
	if len(ec) != 1 || ec[0].Line != hostc || ec[0].Time.Before(before.Add(-time.Minute)) || ec[0].Time.After(after) {
		t.Errorf("hostc's events: %+v; want one dated when it arrived, its line %q", ec, hostc)
	}
}

// The rule holds for files: a followed file's lines read at start (a backlog) of a host
// a few hours ahead (less than a day: a host in another zone that writes no offset), as
// a scan's lines of a host dated after the file's last write, are all dated earlier by
// as much as the host's last line is after the last write (the newest at it), which
// keeps their spacing. Lines a minute ahead of it are dated so too, but their host is
// not warned of.
func TestAFileLineDatedHoursAheadIsDatedWhenRead(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "web.log")
	cfg := observeConfig(t, dir, fmt.Sprintf("[[source]]\nfiles = [%q]\n[detect]\ntimezone = \"UTC\"", logFile), 1)
	now := time.Now().UTC()
	lines := func(host, addr string, at time.Time) string {
		var b strings.Builder
		for i := range 3 {
			fmt.Fprintf(&b, "%s %s sshd[%d]: Failed password for root from %s port %d ssh2\n",
				at.Add(time.Duration(i)*time.Second).Format(time.Stamp), host, i, addr, 30000+i)
		}
		return b.String()
	}
	if err := os.WriteFile(logFile, []byte(lines("web2", "45.4.0.9", now.Add(9*time.Hour))+lines("web5", "45.5.0.9", now.Add(time.Minute))), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	lastWrite := fi.ModTime()
	tap := &logTap{more: make(chan struct{})}
	d, stop := runDaemon(t, cfg, tap)
	waitCounter(t, "lines", &d.Pipeline().Counters.Lines, 6)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"45.4.0.9", "45.5.0.9"} {
		times := eventTimes(t, cfg, addr)
		if len(times) != 3 {
			t.Fatalf("%d events of %s; want 3", len(times), addr)
		}
		for i, at := range times {
			if want := lastWrite.Add(-time.Duration(2-i) * time.Second); !at.Equal(want) {
				t.Errorf("event %d of %s dated %s; want %s, a second apart as written, the last at the file's last write", i, addr, at.UTC(), want.UTC())
			}
		}
	}
	if n := d.Pipeline().Counters.Redated.Load(); n != 3 {
		t.Errorf("%d lines counted as redated; want web2's 3", n)
	}
	if n := tap.count("WARN", "dated more than 5 minutes after it was written: every line of the host among them is dated that much earlier", "host=web2", "ahead=9h"); n != 1 {
		t.Errorf("%d warnings of web2's clock; want 1. The log:\n%s", n, strings.Join(tap.all(), "\n"))
	}
	if n := tap.count("WARN", "host=web5"); n != 0 {
		t.Errorf("%d warnings of web5, a minute fast; want none", n)
	}

	// scan: against the file's last write, an hour ago.
	scanned := filepath.Join(dir, "old.log")
	written := now.Add(-time.Hour).Truncate(time.Second)
	p, st := scanWrittenAt(t, cfg, scanned, lines("web6", "45.6.0.9", written.Add(3*time.Hour))+lines("web7", "45.7.0.9", written.Add(-time.Hour)), written)
	st.Close()
	// Web6's lines are all dated 3 hours (and 2 s, its newest's) earlier: a second
	// apart as written, the newest at the last write (review 37, 3).
	if times := eventTimes(t, cfg, "45.6.0.9"); len(times) != 3 || !times[0].Equal(written.Add(-2*time.Second)) || !times[2].Equal(written) {
		t.Errorf("scanned lines 3 hours after the file's last write dated %v; want from %s to %s", times, written.Add(-2*time.Second).UTC(), written.UTC())
	}
	if times := eventTimes(t, cfg, "45.7.0.9"); len(times) != 3 || !times[0].Equal(written.Add(-time.Hour)) {
		t.Errorf("a scanned line of an hour before the last write dated %v; want it as written, %s", times, written.Add(-time.Hour).UTC())
	}
	if n := p.Counters.Redated.Load(); n != 3 {
		t.Errorf("scan: %d lines counted as redated; want web6's 3", n)
	}
}
