package detect

import (
	"net/netip"
	"strings"
	"testing"
)

// ipv6Forms are textual forms netip.ParseAddr takes for an IPv6 address (or a mapped
// IPv4 one), as programs print them: inet_ntop compresses the longest run of zero groups
// wherever it is, so an interface ID whose last groups are zero ends in "::" (an
// attacker picks one in its own /64); a mapped address starts with "::".
var ipv6Forms = []string{
	"2001:db8:1:2:1:2::",   // trailing "::"
	"2001:db8::",           // trailing "::", most groups compressed
	"2001:DB8:0:0:1::",     // upper case, zero groups written and compressed
	"2001:db8::1:0:0:7",    // compressed in the middle
	"2001:db8:1:2:3:4:5::", // seven groups and "::"
	"::ffff:203.0.113.9",   // leading "::", mapped IPv4
	"::FFFF:cb00:7109",     // leading "::", mapped IPv4 in hex
	"2001:0db8:0000:0000:0000:0000:0000:0007",
}

// addressToken is the text of tt's address in tt.line: its mapped form where the program
// writes that. ok is false for a case whose line does not spell the address.
func addressToken(tt shippedAttackCase) (token string, ok bool) {
	if tt.addr == "" {
		return "", false
	}
	if mapped := "::ffff:" + tt.addr; strings.Contains(tt.line, mapped) {
		return mapped, true
	}
	return tt.addr, strings.Contains(tt.line, tt.addr)
}

// Every shipped attack rule with a <HOST> or <PTR> (sshd, dropbear, PAM, TCP wrappers,
// FTP, login, postfix, postscreen, sendmail, exim, dovecot, courier, named, firewalls)
// takes every form of an IPv6 address in its slot, as it takes the IPv4 one: review 46
// finding 1, where "from 2a01:4f8:1:2:1:2:: port 1000" made no event. The slot stays
// anchored: the address followed by a zone is no event.
func TestShippedAttackRulesTakeEveryIPv6Form(t *testing.T) {
	d := numericShipped(t)
	tried := 0
	for _, tt := range shippedAttackCases {
		token, ok := addressToken(tt)
		if !ok {
			continue
		}
		for _, form := range ipv6Forms {
			tried++
			line := "Feb 12 14:10:21 srv " + strings.ReplaceAll(tt.line, token, form)
			out, ev := d.Classify(record(line))
			want := netip.MustParseAddr(form).Unmap()
			if out != Recognised || ev.Class != tt.class || ev.Addr != want || ev.User != tt.user || ev.Port != tt.port {
				t.Errorf("%s\n got %v %s addr=%v user=%q port=%d\nwant %s addr=%v user=%q port=%d",
					line, out, ev.Class, ev.Addr, ev.User, ev.Port, tt.class, want, tt.user, tt.port)
			}
		}
		for _, zoned := range []string{"2001:db8:1:2::%eth0", "fe80::%eth0"} {
			line := "Feb 12 14:10:21 srv " + strings.ReplaceAll(tt.line, token, zoned)
			if out, ev := d.Classify(record(line)); out == Recognised {
				t.Errorf("%s\n got %v %s from %v, want no event: a zone names an interface of ours", line, out, ev.Class, ev.Addr)
			}
		}
	}
	if tried < 100*len(ipv6Forms) {
		t.Errorf("only %d records tried", tried)
	}
}

// PostgreSQL's rules read the address its prefix wrote (detect writes it back in its
// canonical form, which ends in "::" for such an address) and the address of
// pg_hba.conf's refusal.
func TestPostgresTakesEveryIPv6Form(t *testing.T) {
	d := declared(t, "%m %r [%p] ")
	for _, form := range ipv6Forms {
		want := netip.MustParseAddr(form).Unmap()
		for _, line := range []string{
			`2026-12-07 07:48:13.707 UTC ADDR(48846) [7063] FATAL:  password authentication failed for user "postgres"`,
			`2026-12-07 07:48:13.707 UTC ADDR(48846) [7063] FATAL:  no pg_hba.conf entry for host "ADDR", user "postgres", database "postgres", no encryption`,
		} {
			for _, rec := range pgForms(strings.ReplaceAll(line, "ADDR", form)) {
				out, ev := d.Classify(rec)
				if out != Recognised || ev.Class != "auth-failure" || ev.Addr != want || ev.User != "postgres" {
					t.Errorf("%s\n got %v %s addr=%v user=%q, want auth-failure from %v user \"postgres\"", rec.Line, out, ev.Class, ev.Addr, ev.User, want)
				}
			}
		}
	}
}
