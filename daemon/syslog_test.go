package daemon

import (
	"bufio"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

func TestSyslogRecordFormats(t *testing.T) {
	l := &syslogListener{loc: time.UTC}
	peer := netip.MustParseAddr("192.0.2.10")
	read := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, raw, want string }{
		{"rfc5424", "<38>1 2026-11-22T09:59:58.123456Z web7 sshd 4242 - - Failed password for root from 3.3.3.3 port 5 ssh2",
			"2026-11-22T09:59:58.123456Z web7 sshd[4242]: Failed password for root from 3.3.3.3 port 5 ssh2"},
		{"rfc5424 nil host and time", "<38>1 - - sshd - - - Invalid user x from 3.3.3.3 port 5",
			"2026-11-22T10:00:00.000000Z [192.0.2.10] sshd: Invalid user x from 3.3.3.3 port 5"},
		// The time as the host wrote it, which detect reads again, so that the admin finds
		// the evidence in the host's own log.
		{"rfc3164", "<38>Nov 22 09:59:58 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5\n",
			"Nov 22 09:59:58 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5"},
		{"rfc3164 RFC 3339 time", "<38>2026-11-22T18:59:58+09:00 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5",
			"2026-11-22T18:59:58+09:00 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5"},
		{"rfc5424 as sent", "<38>1 2026-11-22T18:59:58.12+09:00 web7 sshd 4242 - - Invalid user x from 3.3.3.3 port 5",
			"2026-11-22T18:59:58.12+09:00 web7 sshd[4242]: Invalid user x from 3.3.3.3 port 5"},
		// Fractions of a second in RFC 3164, which detect does not read there: written
		// as rsyslog writes the time.
		{"rfc3164 fractions", "<38>Nov 22 09:59:58.250 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5",
			"2026-11-22T09:59:58.250000Z web8 sshd[17]: Invalid user x from 3.3.3.3 port 5"},
	} {
		rec, ok, _ := syslogRecord(l.parser(), []byte(c.raw), peer, read, time.UTC, nil)
		if rec.Line != c.want || rec.Source != "syslog" || !ok {
			t.Errorf("%s: %q (source %q, parsed %v)\nwant %q", c.name, rec.Line, rec.Source, ok, c.want)
		}
	}
	// With a <PRI>, a message the library refuses (nanoseconds, as Go's RFC3339Nano
	// writes them) is left to detect, which reads it.
	raw := "<38>1 2026-11-22T09:59:58.123456789Z web7 sshd 4242 - - Failed password for root from 3.3.3.3 port 5 ssh2"
	rec, ok, _ := syslogRecord(l.parser(), []byte(raw+"\n"), peer, read, time.UTC, nil)
	h, err := detect.ParseHeader(rec.Line, read, time.UTC)
	if !ok || rec.Line != raw || err != nil || h.Host != "web7" || h.Program != "sshd" {
		t.Errorf("%q: %q (parsed %v), detect reads %+v, %v", raw, rec.Line, ok, h, err)
	}
}

// A message the syslog parser cannot read is counted as unparsed, as the comment says:
// without a <PRI> the header is free text, and its hostname (the host that was hit)
// must not be believed.
func TestSyslogRecordWithoutHeaderIsUnparsed(t *testing.T) {
	l := &syslogListener{loc: time.UTC}
	peer := netip.MustParseAddr("192.0.2.10")
	read := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, raw := range []string{
		"Dec  6 22:23:15 spoofhost2 sshd[300]: Failed password for root from 24.0.0.45 port 22 ssh2",
		"2026-12-06T22:23:15.000000Z spoofhost2 sshd[300]: Failed password for root from 24.0.0.45 port 22 ssh2",
		"\x00\x01binary",
		"<999>1 - spoofhost2 sshd - - - Failed password for root from 24.0.0.45 port 22 ssh2",
	} {
		rec, ok, _ := syslogRecord(l.parser(), []byte(raw), peer, read, time.UTC, nil)
		if ok || rec.Source != "syslog" {
			t.Errorf("%q: parsed %v, source %q; want unparsed", raw, ok, rec.Source)
		}
		if h, err := detect.ParseHeader(rec.Line, read, time.UTC); err == nil {
			t.Errorf("%q: detect reads host %q from the record %q; want it unparsed", raw, h.Host, rec.Line)
		}
	}
}

// frames reads every frame of in; err is what ended the stream.
func frames(in string) (got []string, err error) {
	fr := frameReader{br: bufio.NewReader(strings.NewReader(in))}
	for {
		m, err := fr.next()
		if err != nil {
			return got, err
		}
		got = append(got, string(m))
	}
}

// RFC 6587: octet-counted and newline-terminated frames, told apart per message.
func TestReadFrameBothFramings(t *testing.T) {
	got, err := frames("10 <1>1 - a b25 <13>1 - - - - - two\nlines\n<13>newline framed\n")
	want := []string{"<1>1 - a b", "<13>1 - - - - - two\nlines", "\n", "<13>newline framed\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") || err != io.EOF {
		t.Errorf("frames %q, %v\nwant %q, EOF", got, err, want)
	}
	if _, err := frames("99999999999 x"); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("an absurd octet count was accepted (%v)", err)
	}
}

// Octet counting is told only by digits, a space and a count up to maxFrame: a
// newline-framed message that starts with a digit is a message, not a broken count.
func TestReadFrameDigitsThatAreNoCount(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"a timestamp", "2026-12-06T22:23:15Z host sshd[1]: x\n<13>next\n", []string{"2026-12-06T22:23:15Z host sshd[1]: x\n", "<13>next\n"}},
		{"a count of 0", "0 x\n", []string{"0 x\n"}},
		{"a count over maxFrame", "9999999 x\n", []string{"9999999 x\n"}},
		{"8 digits in a newline-framed stream", "<13>a\n12345678 x\n", []string{"<13>a\n", "12345678 x\n"}},
	} {
		got, err := frames(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || err != io.EOF {
			t.Errorf("%s: frames %q, %v\nwant %q, EOF", c.name, got, err, c.want)
		}
	}
	// Once a stream has counted octets, a bad count means the sender lost count: the
	// connection ends, quoting at most what was read of it.
	got, err := frames("5 <13>a12x <13>b")
	if len(got) != 1 || err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), `bad octet count "12x"`) {
		t.Errorf("frames %q, %v; want one, then a bad octet count", got, err)
	}
}

// A stream that ends inside a message (inside its count, its octets or before its
// newline) cuts it: the message is dropped and the end is an error, not a clean EOF.
// Cut "… from 24.0.0.45 port 22" to "… from 24.0.0.4" and it blames another address.
func TestReadFrameStreamEndingInsideAMessage(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     []string
	}{
		{"a line without its newline", "<13>from 24.0.0.45 port 22\n<13>from 24.0.0.4", []string{"<13>from 24.0.0.45 port 22\n"}},
		{"inside the count", "12", nil},
		{"after the count", "12 ", nil},
		{"inside the octets", "25 <13>1 - - -", nil},
		{"inside the octets of a long frame", "70000 " + strings.Repeat("x", 66000), nil},
	} {
		got, err := frames(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || !errors.Is(err, errCutFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: frames %q, %v\nwant %q, then a message cut off", c.name, got, err, c.want)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A count longer than 7 digits is refused at once: the reader takes no more than its
// buffer from the stream, and the error quotes 8 bytes of it.
func TestReadFrameRefusesALongCountAtOnce(t *testing.T) {
	src := &countingReader{r: io.MultiReader(strings.NewReader("1"), strings.NewReader(strings.Repeat("7", 64<<20)))}
	fr := frameReader{br: bufio.NewReaderSize(src, 64<<10)}
	_, err := fr.next()
	if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), `"17777777" longer than 7 digits`) {
		t.Fatalf("err %v; want the count refused", err)
	}
	if src.n > 64<<10 || len(err.Error()) > 200 {
		t.Errorf("read %d bytes of the stream for it, error of %d bytes", src.n, len(err.Error()))
	}
}

func TestQuoteInputIsBounded(t *testing.T) {
	if got := quoteInput([]byte("12x")); got != `"12x"` {
		t.Errorf("quoteInput = %s", got)
	}
	if got := quoteInput([]byte(strings.Repeat("7", 5<<20))); len(got) > maxQuoted+30 || !strings.HasSuffix(got, "… (5242880 bytes)") {
		t.Errorf("quoteInput of 5 MiB = %s", got)
	}
}

// A recurring warning is let through once per interval per key, with the count held
// back since; flooded with keys, the limiter stays bounded.
func TestLogLimiterOncePerIntervalWithCount(t *testing.T) {
	r := logLimiter{every: time.Minute}
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		key   string
		at    time.Duration
		ok    bool
		held  int64
		label string
	}{
		{"a", 0, true, 0, "the first"},
		{"a", time.Second, false, 0, "a second later"},
		{"b", time.Second, true, 0, "another key"},
		{"a", 30 * time.Second, false, 0, "within the minute"},
		{"a", 61 * time.Second, true, 2, "a minute later, with the two held back"},
		{"a", 62 * time.Second, false, 0, "again within the minute"},
	}
	for _, s := range steps {
		ok, held := r.allow(s.key, t0.Add(s.at))
		if ok != s.ok || held != s.held {
			t.Errorf("%s: %v, %d; want %v, %d", s.label, ok, held, s.ok, s.held)
		}
	}
	flood := func(at time.Duration) (logged int) {
		for i := range 3 * maxQuietKeys {
			if ok, _ := r.allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), t0.Add(at)); ok {
				logged++
			}
		}
		return logged
	}
	// The keys of a flood of forged sources fill the limiter; past it they share one key.
	if logged := flood(2 * time.Minute); logged > maxQuietKeys || len(r.keys) > maxQuietKeys+1 {
		t.Errorf("a flood of %d keys: %d let through, %d keys remembered; want at most %d", 3*maxQuietKeys, logged, len(r.keys), maxQuietKeys+1)
	}
	// A minute later the spent keys make room again.
	if logged := flood(3 * time.Minute); logged < maxQuietKeys-2 || len(r.keys) > maxQuietKeys+1 {
		t.Errorf("a flood a minute later: %d let through, %d keys remembered", logged, len(r.keys))
	}
}
