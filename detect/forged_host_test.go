package detect

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/correlate"
)

// Review 33 F1: a MariaDB client's user name with newlines writes whole lines of its
// own, each a record of the journal (stderr) or of syslog (mysqld_safe --syslog), and
// the line before the real tail may name any address, with the server's own date and
// thread when the name's first line is the fake one. Captured from MariaDB 10.11.14
// (testdata/mariadb/PROVENANCE). No record can be told from a real failure, so every
// MariaDB event with an address is of a forgeable class: counted for the admin, never
// in a report, whichever form the line comes in.
func TestMariaDBClientWrittenLinesAreForgeable(t *testing.T) {
	d := shipped(t)
	var recs []string
	for _, f := range []string{"newline-middle-stderr.log", "newline-head-stderr.log", "mariadbd-10.11-stderr.log"} {
		for _, line := range readLines(t, "testdata/mariadb/"+f) {
			// the journal's identifier and syslog's from mysqld_safe
			recs = append(recs, "Dec  7 18:10:40 db1 mariadbd[7580]: "+line, "Dec  7 18:10:40 db1 mysqld[4242]: "+line)
		}
	}
	recs = append(recs, readLines(t, "testdata/mariadb/newline-middle-syslog.log")...)
	fake := map[netip.Addr]int{}
	for _, line := range recs {
		out, ev := d.Classify(record(line))
		if !ev.Addr.IsValid() {
			continue
		}
		if out == Recognised && !correlate.Forgeable(ev.Class) {
			t.Errorf("%s: %s from %v, a class that may be reported", line, ev.Class, ev.Addr)
		}
		if out != Recognised {
			t.Errorf("%s: %v with address %v, want an event of a forgeable class", line, out, ev.Addr)
		}
		if a := ev.Addr.String(); a == "8.8.8.8" || a == "8.8.4.4" {
			fake[ev.Addr]++
		}
	}
	// The captures do hold the forged lines: the test reads what it means to.
	if fake[netip.MustParseAddr("8.8.8.8")] == 0 || fake[netip.MustParseAddr("8.8.4.4")] == 0 {
		t.Errorf("the client's lines made no event naming 8.8.8.8 and 8.8.4.4 (%v): the captures are not read as MariaDB's", fake)
	}
}

// Review 33 F3: pure-ftpd writes what getnameinfo() gave for the client's address, with
// names resolved (its default) the PTR record's text, unchecked; glibc returns a PTR
// record "8.8.8.8." as "8.8.8.8". An address in such a slot (<PTR>) is the client's only
// for a program the admin declared writes addresses there (pure-ftpd's DontResolve):
// otherwise no event. A name stays a name (no address, no report). The same holds for
// login's FROM (telnetd's host) and for the PAM rhost= login sets to it.
func TestPTRSlotAddressNeedsTheAdminsWord(t *testing.T) {
	captured := readLines(t, "testdata/pureftpd/ptr-syslog.log")
	failures := 0
	for _, line := range captured {
		if strings.Contains(line, "Authentication failed") {
			failures++
		}
	}
	if failures != 4 {
		t.Fatalf("%d failed logins in the capture, want 4", failures)
	}
	lines := append(captured,
		"Dec  7 18:14:35 ftp1 pure-ftpd: (?@2001:db8::8) [WARNING] Authentication failed for user [admin]",
		"Dec  7 18:14:35 ftp1 pure-ftpd: (?@8.8.8.8) [INFO] admin is now logged in",
		"Dec  7 18:14:35 tel1 login[1]: FAILED LOGIN (1) on '/dev/pts/1' FROM '8.8.8.8' FOR 'root', Authentication failure",
		"Dec  7 18:14:35 tel1 login[1]: FAILED LOGIN 1 FROM 8.8.8.8 FOR root, Authentication failure",
		"Dec  7 18:14:35 tel1 login[1]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/pts/1 ruser= rhost=8.8.8.8  user=root",
	)
	for _, tt := range []struct {
		name     string
		d        *Detector
		wantAddr bool // the lines with an address in the slot are events from it
	}{
		{"names resolved (the default)", shipped(t), false},
		{"other programs declared", shipped(t).WithNumericHosts([]string{"proftpd"}), false},
		{"pure-ftpd and login declared", shipped(t).WithNumericHosts([]string{"pure-ftpd", "login"}), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events := 0
			for _, line := range lines {
				v := tt.d.Explain(record(line))
				slot := !strings.Contains(line, "New connection") && !strings.Contains(line, "Logout")
				switch {
				case !slot:
					if v.Event.Addr.IsValid() {
						t.Errorf("%s: %v from %v", line, v.Outcome, v.Event.Addr)
					}
				case tt.wantAddr:
					if v.Outcome != Recognised || !v.Event.Addr.IsValid() || v.Event.Name != "" {
						t.Errorf("%s: %v %s addr=%v name=%q (%v), want an event from its address", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Event.Name, v.Err)
					}
					events++
				default:
					if v.Outcome != Unknown || v.Event.Addr.IsValid() || !errors.Is(v.Err, errPTRAddress) {
						t.Errorf("%s: %v %s addr=%v (%v), want no event: %v", line, v.Outcome, v.Event.Class, v.Event.Addr, v.Err, errPTRAddress)
					}
				}
			}
			// Nor is an address in a generic position of these programs an event of
			// class unknown: PAM's rhost= is the same unchecked host.
			for _, line := range []string{
				"Dec  7 18:14:35 tel1 login[1]: PAM 2 more authentication failures; logname=LOGIN uid=0 euid=0 tty=/dev/pts/1 ruser= rhost=8.8.8.8  user=root",
			} {
				v := tt.d.Explain(record(line))
				if v.Outcome != Unknown || v.Event.Addr.IsValid() != tt.wantAddr {
					t.Errorf("%s: %v %s from %v, want unknown, with the address only when declared", line, v.Outcome, v.Event.Class, v.Event.Addr)
				}
			}
			if tt.wantAddr && events != 9 {
				t.Errorf("%d events, want 9", events)
			}
			// A name in the slot is the event's host name, declared or not.
			for _, line := range []string{
				"Dec  7 18:14:35 ftp1 pure-ftpd: (?@host-7.example.net) [WARNING] Authentication failed for user [admin]",
				"Dec  7 18:14:35 tel1 login[1]: FAILED LOGIN (1) on '/dev/pts/1' FROM 'host-7.example.net' FOR 'root', Authentication failure",
			} {
				out, ev := tt.d.Classify(record(line))
				if out != Recognised || ev.Addr.IsValid() || ev.Name != "host-7.example.net" {
					t.Errorf("%s: %v addr=%v name=%q, want an event of the name alone", line, out, ev.Addr, ev.Name)
				}
			}
		})
	}
}

// A <NAME> slot alone never makes an address of what it holds (it did: "a name that is
// an address" became the event's address, which is how pure-ftpd's PTR text was read);
// tcpd's "NAME (ADDR)" with the two equal still gives the <HOST>'s.
func TestNameSlotAddressIsNoEvent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/x", []byte("xftpd auth-failure ^fail from <NAME>$\n* refused-connect ^refused connect from <NAME> \\(<HOST>\\)$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := LoadAttackRules(os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	d := New(nil, a, nil)
	v := d.Explain(record("Dec  7 18:14:35 h xftpd[1]: fail from 8.8.8.8"))
	if v.Outcome != Unknown || v.Event.Addr.IsValid() || !errors.Is(v.Err, errNameAddress) {
		t.Errorf("<NAME> holding 8.8.8.8: %v %v (%v), want no event", v.Outcome, v.Event.Addr, v.Err)
	}
	if out, ev := d.Classify(record("Dec  7 18:14:35 h xftpd[1]: fail from host.example")); out != Recognised || ev.Name != "host.example" {
		t.Errorf("<NAME> holding a name: %v %q", out, ev.Name)
	}
	out, ev := d.Classify(record("Dec  7 18:14:35 h in.telnetd[1]: refused connect from 203.0.113.7 (203.0.113.7)"))
	if out != Recognised || ev.Addr != netip.MustParseAddr("203.0.113.7") || ev.Name != "" {
		t.Errorf("tcpd's NAME (ADDR): %v %v %q", out, ev.Addr, ev.Name)
	}
}

// Review 33 F6 aside: Debian 12's courier-imap writes ", port=[N]" after "ip=[…]", and
// the rule wanted ip=[…] last, so no courier failure was an event. The captured line's
// user name spells a whole other failure (courier writes its newlines as "."): the
// address is still courier's last ip=[…].
func TestCourierLoginFailedWithPort(t *testing.T) {
	d := shipped(t)
	var msg string
	for _, l := range readLines(t, "testdata/courier/imapd-stderr.log") {
		if m, ok := strings.CutPrefix(l, "INFO: "); ok && strings.HasPrefix(m, "LOGIN FAILED") {
			msg = m
		}
	}
	if msg == "" {
		t.Fatal("no LOGIN FAILED in the capture")
	}
	for _, line := range []string{
		"Dec  7 18:12:00 mx1 imapd: " + msg,
		"Dec  7 18:12:00 mx1 imapd: LOGIN FAILED, user=x, ip=[::ffff:45.134.26.7], port=[35120]",
	} {
		out, ev := d.Classify(record(line))
		want := "45.134.26.7"
		if strings.Contains(line, "127.0.0.1") {
			want = "127.0.0.1"
		}
		if out != Recognised || ev.Class != "auth-failure" || ev.Addr != netip.MustParseAddr(want) || ev.Port != 35120 {
			t.Errorf("%s: %v %s from %v port %d, want auth-failure from %s port 35120", line, out, ev.Class, ev.Addr, ev.Port, want)
		}
	}
}
