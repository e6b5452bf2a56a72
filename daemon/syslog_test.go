package daemon

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSyslogRecordFormats(t *testing.T) {
	l := &syslogListener{loc: time.UTC}
	peer := netip.MustParseAddr("192.0.2.10")
	read := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct{ name, raw, want string }{
		{"rfc5424", "<38>1 2026-11-22T09:59:58.123456Z web7 sshd 4242 - - Failed password for root from 3.3.3.3 port 5 ssh2",
			"2026-11-22T09:59:58.123456Z web7 sshd[4242]: Failed password for root from 3.3.3.3 port 5 ssh2"},
		{"rfc5424 nil host and time", "<38>1 - - sshd - - - Invalid user x from 3.3.3.3 port 5",
			"2026-11-22T10:00:00.000000Z 192.0.2.10 sshd: Invalid user x from 3.3.3.3 port 5"},
		{"rfc3164", "<38>Nov 22 09:59:58 web8 sshd[17]: Invalid user x from 3.3.3.3 port 5\n",
			"2026-11-22T09:59:58.000000Z web8 sshd[17]: Invalid user x from 3.3.3.3 port 5"},
		{"garbage", "\x00\x01binary", "\x00\x01binary"},
	} {
		rec := syslogRecord(l.parser(), []byte(c.raw), peer, read)
		if rec.Line != c.want || rec.Source != "syslog" {
			t.Errorf("%s: %q (source %q)\nwant %q", c.name, rec.Line, rec.Source, c.want)
		}
	}
}

// RFC 6587: octet-counted and newline-terminated frames, told apart per message.
func TestReadFrameBothFramings(t *testing.T) {
	in := "10 <1>1 - a b25 <13>1 - - - - - two\nlines\n<13>newline framed\n"
	br := bufio.NewReader(strings.NewReader(in))
	var got []string
	for {
		m, err := readFrame(br)
		if err != nil {
			break
		}
		got = append(got, string(m))
	}
	want := []string{"<1>1 - a b", "<13>1 - - - - - two\nlines", "\n", "<13>newline framed\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frames %q\nwant %q", got, want)
	}
	if _, err := readFrame(bufio.NewReader(strings.NewReader("99999999999 x"))); err == nil {
		t.Error("an absurd octet count was accepted")
	}
}
