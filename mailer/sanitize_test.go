package mailer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "sshd[1]: Failed password for root", "sshd[1]: Failed password for root"},
		{"CRLF cannot start a header", "x\r\nBcc: evil@example.com", "x  Bcc: evil@example.com"},
		{"bare LF and CR", "a\nb\rc", "a b c"},
		{"tab", "a\tb", "a b"},
		{"NUL, ESC, DEL", "a\x00b\x1b[31mc\x7f", "ab[31mc"},
		{"C1 controls", "a\u0085b\u009bc", "a bc"},
		{"Unicode line separators", "a\u2028b\u2029c", "a b c"},
		{"bidi override and zero-width space", "user\u202etxt.exe\u200b", "usertxt.exe"},
		{"invalid UTF-8", "a\xff\xfeb\xc3", "a\uFFFDb\uFFFD"},
		{"valid UTF-8 kept", "Jürgen 日本", "Jürgen 日本"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sanitize(tc.in); got != tc.want {
				t.Errorf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSanitizeBoundsLength(t *testing.T) {
	exact := strings.Repeat("é", maxLineRunes)
	if got := sanitize(exact); got != exact {
		t.Errorf("a line of exactly %d runes was changed", maxLineRunes)
	}
	// A user name of any length must not push the address and port, which sshd writes
	// last, out of the line: the middle goes.
	long := "Nov 20 05:00:01 web1 sshd[20020]: Invalid user " + strings.Repeat("é", 3000) + " from 45.134.27.3 port 40022"
	got := sanitize(long)
	if n := utf8.RuneCountInString(got); n != maxLineRunes {
		t.Errorf("got %d runes, want %d", n, maxLineRunes)
	}
	if !strings.HasPrefix(got, "Nov 20 05:00:01 web1 sshd[20020]: Invalid user é") || !strings.HasSuffix(got, "é from 45.134.27.3 port 40022") ||
		strings.Count(got, "…") != 1 {
		t.Errorf("cut line = %q", got)
	}
	// Dropped characters do not count towards the bound.
	padded := strings.Repeat("\x00", 1000) + "ok"
	if got := sanitize(padded); got != "ok" {
		t.Errorf("sanitize(1000 NULs + ok) = %q", got)
	}
	if got := sanitize(strings.Repeat("\xff", 10000)); utf8.RuneCountInString(got) > maxLineRunes || !utf8.ValidString(got) {
		t.Errorf("invalid input gave %d runes, valid=%v", utf8.RuneCountInString(got), utf8.ValidString(got))
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("x\r\nBcc: evil@example.com")
	f.Add("\xff\x00\u202e")
	f.Fuzz(func(t *testing.T, s string) {
		got := sanitize(s)
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > maxLineRunes {
			t.Fatalf("sanitize(%q) = %q", s, got)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			t.Fatalf("sanitize(%q) = %q has control characters", s, got)
		}
	})
}
