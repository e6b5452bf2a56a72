package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func TestParseHeader(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	ref := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		line string
		ref  time.Time
		want Header
	}{
		{
			name: "rfc3164",
			line: "Feb 12 14:10:21 sd-126005 sshd[16378]: Invalid user pascal from 35.188.49.176 port 53502",
			want: Header{Time: time.Date(2026, 2, 12, 14, 10, 21, 0, berlin), Host: "sd-126005", Program: "sshd", PID: 16378, Message: "Invalid user pascal from 35.188.49.176 port 53502"},
		},
		{
			name: "rfc3164 single-digit day with one space",
			line: "Nov 2 15:40:14 workshop sshd[28179]: pam_unix(sshd:auth): x",
			want: Header{Time: time.Date(2025, 11, 2, 15, 40, 14, 0, berlin), Host: "workshop", Program: "sshd", PID: 28179, Message: "pam_unix(sshd:auth): x"},
		},
		{
			name: "rfc3164 space-padded day, no pid",
			line: "Dec  7 14:53:04 vskub1master01p sudo: pam_tally2(sudo:auth): user zbadguy (4001) tally 6, deny 5",
			want: Header{Time: time.Date(2025, 12, 7, 14, 53, 4, 0, berlin), Host: "vskub1master01p", Program: "sudo", Message: "pam_tally2(sudo:auth): user zbadguy (4001) tally 6, deny 5"},
		},
		{
			name: "rfc3164 zero-padded day",
			line: "Aug 03 21:39:20 hostname sshd[69420]: Connection closed",
			want: Header{Time: time.Date(2025, 8, 3, 21, 39, 20, 0, berlin), Host: "hostname", Program: "sshd", PID: 69420, Message: "Connection closed"},
		},
		{
			name: "rfc3164 with year, even in the future",
			line: "Feb 12 2027 14:10:21 host sshd[1]: msg",
			want: Header{Time: time.Date(2027, 2, 12, 14, 10, 21, 0, berlin), Host: "host", Program: "sshd", PID: 1, Message: "msg"},
		},
		{
			name: "rfc3164 with PRI",
			line: "<38>Feb 12 14:10:21 host sshd[1]: msg",
			want: Header{Time: time.Date(2026, 2, 12, 14, 10, 21, 0, berlin), Host: "host", Program: "sshd", PID: 1, Message: "msg"},
		},
		{
			name: "rfc3164 December read in January is last year",
			line: "Dec 31 23:59:59 h cron[2]: m",
			ref:  time.Date(2027, 1, 1, 0, 0, 30, 0, berlin),
			want: Header{Time: time.Date(2026, 12, 31, 23, 59, 59, 0, berlin), Host: "h", Program: "cron", PID: 2, Message: "m"},
		},
		{
			name: "rfc3164 January read on New Year's Eve is next year (clock skew)",
			line: "Jan  1 00:00:01 h cron[2]: m",
			ref:  time.Date(2026, 12, 31, 23, 59, 50, 0, berlin),
			want: Header{Time: time.Date(2027, 1, 1, 0, 0, 1, 0, berlin), Host: "h", Program: "cron", PID: 2, Message: "m"},
		},
		{
			// A file may hold lines of eleven months ago when first read: a day's
			// allowance, not the listener's month (those would be next year's, then
			// dated when read: an old attack reported as of now).
			name: "rfc3164 more than a day ahead is last year",
			line: "Jan  2 00:00:01 h cron[2]: m",
			ref:  time.Date(2026, 12, 31, 23, 59, 50, 0, berlin),
			want: Header{Time: time.Date(2026, 1, 2, 0, 0, 1, 0, berlin), Host: "h", Program: "cron", PID: 2, Message: "m"},
		},
		{
			name: "rfc3164 eleven months back is last year's, not a fast clock",
			line: "Jan  7 12:00:00 h cron[2]: m",
			ref:  time.Date(2026, 12, 7, 12, 0, 0, 0, berlin),
			want: Header{Time: time.Date(2026, 1, 7, 12, 0, 0, 0, berlin), Host: "h", Program: "cron", PID: 2, Message: "m"},
		},
		{
			name: "rfc3164 Feb 29 goes back to the last leap year",
			line: "Feb 29 12:00:00 h p: m",
			ref:  time.Date(2029, 3, 1, 0, 0, 0, 0, berlin),
			want: Header{Time: time.Date(2028, 2, 29, 12, 0, 0, 0, berlin), Host: "h", Program: "p", Message: "m"},
		},
		{
			name: "rfc3164 without a tag",
			line: "Feb 12 14:10:21 host last message repeated 3 times",
			want: Header{Time: time.Date(2026, 2, 12, 14, 10, 21, 0, berlin), Host: "host", Message: "last message repeated 3 times"},
		},
		{
			name: "rfc3164 tag with a slash, empty message",
			line: "Feb 12 14:10:21 mx postfix/smtpd[77]:",
			want: Header{Time: time.Date(2026, 2, 12, 14, 10, 21, 0, berlin), Host: "mx", Program: "postfix/smtpd", PID: 77},
		},
		{
			name: "rsyslog high precision",
			line: "2026-11-20T03:14:07.123456+00:00 host sshd[123]: msg",
			want: Header{Time: time.Date(2026, 11, 20, 3, 14, 7, 123456000, time.UTC), Host: "host", Program: "sshd", PID: 123, Message: "msg"},
		},
		{
			name: "rsyslog high precision from the corpus",
			line: "2023-11-14T00:20:42.738197+01:00 myserver sshd[1112652]: User root from 192.168.1.1 not allowed because not listed in AllowUsers",
			want: Header{Time: time.Date(2023, 11, 13, 23, 20, 42, 738197000, time.UTC), Host: "myserver", Program: "sshd", PID: 1112652, Message: "User root from 192.168.1.1 not allowed because not listed in AllowUsers"},
		},
		{
			name: "rfc3339 without zone uses loc",
			line: "2026-11-20T03:14:07 host sshd[123]: msg",
			want: Header{Time: time.Date(2026, 11, 20, 3, 14, 7, 0, berlin), Host: "host", Program: "sshd", PID: 123, Message: "msg"},
		},
		{
			name: "rfc5424",
			line: "<34>1 2026-11-20T03:14:07.123Z host sshd 123 - - msg",
			want: Header{Time: time.Date(2026, 11, 20, 3, 14, 7, 123000000, time.UTC), Host: "host", Program: "sshd", PID: 123, Message: "msg"},
		},
		{
			name: "rfc5424 without PRI (rsyslog file)",
			line: "1 2026-11-20T03:14:07.123456+01:00 host sshd 123 - - Invalid user x from 192.0.2.1 port 22",
			want: Header{Time: time.Date(2026, 11, 20, 2, 14, 7, 123456000, time.UTC), Host: "host", Program: "sshd", PID: 123, Message: "Invalid user x from 192.0.2.1 port 22"},
		},
		{
			name: "rfc5424 structured data with escapes and BOM",
			line: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App\]lication" eventID="1011"][x@1 a="b"] ` + "\uFEFF" + "An application event",
			want: Header{Time: time.Date(2003, 10, 11, 22, 14, 15, 3000000, time.UTC), Host: "mymachine.example.com", Program: "evntslog", Message: "An application event"},
		},
		// The services' own log files (native.go): exim's mainlog, vsftpd.log, proftpd's SystemLog.
		{
			name: "exim mainlog",
			line: "2022-06-29 16:04:05 dovecot_plain authenticator failed for (mail.test.com) [202.137.142.181]:47807: 535 Incorrect authentication data (set_id=dave)",
			want: Header{Time: time.Date(2022, 6, 29, 16, 4, 5, 0, berlin), Host: localHost(), Program: "exim", Message: "dovecot_plain authenticator failed for (mail.test.com) [202.137.142.181]:47807: 535 Incorrect authentication data (set_id=dave)", format: "exim"},
		},
		{
			name: "exim mainlog with +millisec, log_timezone and +pid",
			line: "2023-05-30 06:10:13.345 +0200 [4711] 1qA2bC-000123-AB <= a@example.org",
			want: Header{Time: time.Date(2023, 5, 30, 4, 10, 13, 345000000, time.UTC), Host: localHost(), Program: "exim", PID: 4711, Message: "1qA2bC-000123-AB <= a@example.org", format: "exim"},
		},
		{
			name: "vsftpd.log, day padded with a space",
			line: `Mon Jun  9 12:08:53 2020 [pid 27244] [user] FAIL LOGIN: Client "::ffff:93.24.101.90"`,
			want: Header{Time: time.Date(2020, 6, 9, 12, 8, 53, 0, berlin), Host: localHost(), Program: "vsftpd", PID: 27244, Message: `[user] FAIL LOGIN: Client "::ffff:93.24.101.90"`, format: "vsftpd"},
		},
		{
			name: "vsftpd.log, day not padded",
			line: `Mon Jun 8 12:08:44 2020 [pid 27245] CONNECT: Client "::ffff:93.24.101.89"`,
			want: Header{Time: time.Date(2020, 6, 8, 12, 8, 44, 0, berlin), Host: localHost(), Program: "vsftpd", PID: 27245, Message: `CONNECT: Client "::ffff:93.24.101.89"`, format: "vsftpd"},
		},
		{
			// PostgreSQL 15's stderr log (testdata/postgres): the message is the whole line
			name: "postgres log with %m %r [%p]",
			line: "2026-12-07 07:48:13.707 UTC 127.0.0.1(48846) [7063] FATAL:  password authentication failed for user \"postgres\"",
			want: Header{Time: time.Date(2026, 12, 7, 7, 48, 13, 707000000, time.UTC), Host: localHost(), Program: "postgres", PID: 7063, Message: "2026-12-07 07:48:13.707 UTC 127.0.0.1(48846) [7063] FATAL:  password authentication failed for user \"postgres\"", format: "postgres"},
		},
		{
			name: "postgres log, Debian's default %m [%p] %q%u@%d",
			line: "2026-12-07 07:42:27.978 UTC [21117] nosuchuser@postgres FATAL:  password authentication failed for user \"nosuchuser\"",
			want: Header{Time: time.Date(2026, 12, 7, 7, 42, 27, 978000000, time.UTC), Host: localHost(), Program: "postgres", PID: 21117, Message: "2026-12-07 07:42:27.978 UTC [21117] nosuchuser@postgres FATAL:  password authentication failed for user \"nosuchuser\"", format: "postgres"},
		},
		{
			name: "postgres log, the postmaster's empty %h, %t and a zone in hours",
			line: "2026-12-07 10:44:15 +03  [19595] LOG:  database system is ready to accept connections",
			want: Header{Time: time.Date(2026, 12, 7, 7, 44, 15, 0, time.UTC), Host: localHost(), Program: "postgres", PID: 19595, Message: "2026-12-07 10:44:15 +03  [19595] LOG:  database system is ready to accept connections", format: "postgres"},
		},
		{
			// Debian's default before PostgreSQL 10, which pg_upgradecluster keeps (review
			// L3): PostgreSQL's, not exim's with "UTC [25127-1] …" as the message.
			name: "postgres log, the old Debian default %t [%p-%l] %q%u@%d",
			line: `2026-12-07 07:43:28 UTC [25127-1] postgres@postgres FATAL:  no pg_hba.conf entry for host "81.2.69.160", user "postgres", database "postgres", no encryption`,
			want: Header{Time: time.Date(2026, 12, 7, 7, 43, 28, 0, time.UTC), Host: localHost(), Program: "postgres", PID: 25127, Message: `2026-12-07 07:43:28 UTC [25127-1] postgres@postgres FATAL:  no pg_hba.conf entry for host "81.2.69.160", user "postgres", database "postgres", no encryption`, format: "postgres"},
		},
		{
			name: "postgres log, pgBadger's [%p]: and the local zone",
			line: "2026-12-07 08:44:15 CET [26164]: user=postgres,db=postgres,app=[unknown],client=127.0.0.1 LOG:  x",
			want: Header{Time: time.Date(2026, 12, 7, 8, 44, 15, 0, berlin), Host: localHost(), Program: "postgres", PID: 26164, Message: "2026-12-07 08:44:15 CET [26164]: user=postgres,db=postgres,app=[unknown],client=127.0.0.1 LOG:  x", format: "postgres"},
		},
		{
			name: "exim mainlog whose message starts with a word in capitals",
			line: "2022-06-29 16:04:05 SMTP connection from [203.0.113.7]:1 lost",
			want: Header{Time: time.Date(2022, 6, 29, 16, 4, 5, 0, berlin), Host: localHost(), Program: "exim", Message: "SMTP connection from [203.0.113.7]:1 lost", format: "exim"},
		},
		{
			name: "proftpd SystemLog",
			line: "2021-05-28 18:08:34,399 mantis proftpd[498819] mantis (192.168.1.142[192.168.1.142]): USER seb (Login failed): Incorrect password",
			want: Header{Time: time.Date(2021, 5, 28, 18, 8, 34, 399000000, berlin), Host: "mantis", Program: "proftpd", PID: 498819, Message: "mantis (192.168.1.142[192.168.1.142]): USER seb (Login failed): Incorrect password", format: "proftpd"},
		},
		{
			name: "rfc5424 nil values and no message",
			line: "<34>1 - - - - - -",
			want: Header{Time: ref},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.ref
			if r.IsZero() {
				r = ref
			}
			got, err := ParseHeader(tt.line, r, berlin)
			if err != nil {
				t.Fatalf("ParseHeader(%q): %v", tt.line, err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("Time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			got.tagged, got.local = "", false // internal
			if got != tt.want {
				t.Errorf("ParseHeader(%q)\n got %+v\nwant %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	ref := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name, line, wantErr string
	}{
		{"empty", "", "no syslog timestamp"},
		{"garbage", "hello world", "no syslog timestamp"},
		{"bad month", "Fob 12 14:10:21 host p: m", "no syslog timestamp"},
		{"bad hour", "Feb 12 25:10:21 host p: m", "no syslog timestamp"},
		{"no such date", "Feb 30 14:10:21 host p: m", "no such date"},
		{"no such date with year", "Feb 29 2026 14:10:21 host p: m", "no such date"},
		{"no host", "Feb 12 14:10:21 ", "no host"},
		{"bad rfc3339", "2026-13-20T03:14:07Z host p: m", "bad RFC 3339 timestamp"},
		{"rfc5424 short", "<34>1 2026-11-20T03:14:07Z host sshd", "incomplete"},
		// a service's own format is read from files only: a <PRI> says the line came from a network
		{"exim with PRI", "<13>2022-06-29 16:04:05 plain authenticator failed for (x) [203.0.113.7]:1: 535 Incorrect authentication data", "bad RFC 3339 timestamp"},
		{"vsftpd with PRI", `<13>Mon Jun  9 12:08:53 2020 [pid 1] [u] FAIL LOGIN: Client "203.0.113.7"`, "no syslog timestamp"},
		{"exim no such date", "2022-02-30 16:04:05 plain authenticator failed", "bad RFC 3339 timestamp"},
		{"exim no message", "2022-06-29 16:04:05 ", "bad RFC 3339 timestamp"},
		{"vsftpd without pid", `Mon Jun  9 12:08:53 2020 [user] FAIL LOGIN: Client "203.0.113.7"`, "no syslog timestamp"},
		{"vsftpd bad day", `Mon Jun 39 12:08:53 2020 [pid 1] x`, "no syslog timestamp"},
		{"proftpd other program", "2021-05-28 18:08:34,399 mantis fail2ban[1] x", "bad RFC 3339 timestamp"},
		{"proftpd without millis", "2021-05-28 18:08:34, mantis proftpd[1] x", "bad RFC 3339 timestamp"},
		{"rfc5424 bad time", "<34>1 yesterday host sshd 1 - - m", "bad RFC 3339 timestamp"},
		{"rfc5424 open SD", `<34>1 2026-11-20T03:14:07Z host sshd 1 - [a b="]"`, "not terminated"},
		{"rfc5424 no SD", "<34>1 2026-11-20T03:14:07Z host sshd 1 - msg", "structured data is missing"},
		{"over-long", "Feb 12 14:10:21 host p: " + strings.Repeat("a", MaxLineLen), "longer than"},
		{"invalid UTF-8", "Feb 12 14:10:21 host p: \xff\xfe", "not valid UTF-8"},
		{"NUL", "Feb 12 14:10:21 host p: a\x00b", "control character"},
		{"escape sequence", "Feb 12 14:10:21 host p: \x1b[31mred", "control character"},
		{"carriage return", "Feb 12 14:10:21 host p: m\r", "control character"},
		{"C1 control", "Feb 12 14:10:21 host p: \u009b2J", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseHeader(tt.line, ref, time.UTC)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseHeader(%q) error = %v, want one containing %q", tt.line, err, tt.wantErr)
			}
		})
	}
}

func TestParseHeaderAllowsTab(t *testing.T) {
	h, err := ParseHeader("Feb 12 14:10:21 host p: a\tb", time.Now(), time.UTC)
	if err != nil || h.Message != "a\tb" {
		t.Errorf("got %+v, %v; want message with a tab", h, err)
	}
}

// rsyslog keeps the space that followed the tag in its msg (rsyslog/rsyslog#160), so a
// central rsyslog writes "sshd[100]:  Failed …" to its files. Each header form detect
// reads drops exactly one such space: the message starts where the rules expect it, and
// a message that starts with more spaces keeps the rest.
func TestParseHeaderDropsRsyslogSpace(t *testing.T) {
	const failed = "Failed password for root from 45.134.26.9 port 4000 ssh2"
	ref := time.Date(2026, time.December, 6, 12, 0, 0, 0, time.UTC)
	forms := []struct {
		name, header string
		pid          int
	}{
		{"rfc3164", "Dec  6 10:00:01 web1 sshd[100]:", 100},
		{"rfc3164 without pid", "Dec  6 10:00:01 web1 sshd:", 0},
		{"rfc3164 with year", "Dec  6 2026 10:00:01 web1 sshd[100]:", 100},
		{"rfc3164 with PRI", "<38>Dec  6 10:00:01 web1 sshd[100]:", 100},
		{"rsyslog high precision", "2026-12-06T10:00:01.000000+00:00 web1 sshd[100]:", 100},
		{"rsyslog high precision without pid", "2026-12-06T10:00:01.000000+00:00 web1 sshd:", 0},
		{"iso without zone", "2026-12-06T10:00:01.123 web1 sshd[100]:", 100},
		{"rfc5424", "<38>1 2026-12-06T10:00:01.000000+00:00 web1 sshd 100 - -", 100},
		{"rfc5424 without pid or PRI", "1 2026-12-06T10:00:01Z web1 sshd - - -", 0},
		{"rfc5424 with structured data", `<38>1 2026-12-06T10:00:01Z web1 sshd 100 - [origin ip="192.0.2.1"]`, 100},
	}
	spaces := []struct {
		name, sep, want string
	}{
		{"one space", " ", failed},
		{"rsyslog's two spaces", "  ", failed},
		{"three spaces keep one", "   ", " " + failed},
		{"four spaces keep two", "    ", "  " + failed},
	}
	for _, f := range forms {
		for _, sp := range spaces {
			line := f.header + sp.sep + failed
			h, err := ParseHeader(line, ref, time.UTC)
			if err != nil {
				t.Errorf("%s, %s: ParseHeader(%q): %v", f.name, sp.name, line, err)
				continue
			}
			if h.Message != sp.want || h.Host != "web1" || h.Program != "sshd" || h.PID != f.pid {
				t.Errorf("%s, %s: ParseHeader(%q)\n got host %q program %q pid %d message %q\nwant host \"web1\" program \"sshd\" pid %d message %q",
					f.name, sp.name, line, h.Host, h.Program, h.PID, h.Message, f.pid, sp.want)
			}
		}
	}
	// No space after the colon is read as before; a tab is no sender's space.
	for line, want := range map[string]string{
		"Dec  6 10:00:01 web1 sshd[100]:" + failed:                failed,
		"Dec  6 10:00:01 web1 sshd[100]: \t" + failed:             "\t" + failed,
		"1 2026-12-06T10:00:01Z web1 sshd - - - \ufeff " + failed: failed,
	} {
		if h, err := ParseHeader(line, ref, time.UTC); err != nil || h.Message != want {
			t.Errorf("ParseHeader(%q) = message %q, %v; want %q", line, h.Message, err, want)
		}
	}
}

// A record read as it was written (Live: a followed file's line added as it was
// followed) gets the syslog listener's month of allowance for a time without a year: a
// clock 10 days fast is this year's. A backlog's line (not Live) gets a day, as
// ParseHeader: the same time is last year's, and a line of 340 days ago stays last
// year's, which a month would have made 25 days ahead.
func TestExplainLiveRecordYearAllowance(t *testing.T) {
	d := shipped(t)
	ref := time.Date(2026, time.December, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		at   time.Time
		live bool
		want time.Time
	}{
		{"live, 10 days fast", ref.Add(10 * 24 * time.Hour), true, ref.Add(10 * 24 * time.Hour)},
		{"backlog, 10 days ahead", ref.Add(10 * 24 * time.Hour), false, ref.Add(10*24*time.Hour).AddDate(-1, 0, 0)},
		{"backlog, 340 days old", ref.Add(-340 * 24 * time.Hour), false, ref.Add(-340 * 24 * time.Hour)},
	} {
		line := tc.at.Format(time.Stamp) + " web3 sshd[42]: Connection closed by 45.4.0.1 port 40000"
		v := d.Explain(abusewatch.Record{Source: "/var/log/fleet.log", Line: line, Read: ref, Live: tc.live})
		if !v.Header.Time.Equal(tc.want) {
			t.Errorf("%s: %q dated %v; want %v", tc.name, line, v.Header.Time, tc.want)
		}
	}
}
