package mailer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLineRunes bounds every piece of untrusted text shown in a memo, so one absurd log
// line cannot bury the rest of the report.
const maxLineRunes = 300

// sanitize makes untrusted text (log lines, user names, host names, registry data) safe
// to show on one line of a plain-text body: invalid UTF-8 becomes U+FFFD, line breaks and
// tabs become a space so nothing can start a new line (or a header), other control and
// invisible format characters (bidi overrides, zero-width spaces) are dropped so the
// reader sees what is really there, and the result is at most maxLineRunes runes, ending
// in "…" when it was cut.
func sanitize(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), 4*maxLineRunes))
	n := 0
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if n == maxLineRunes {
			return truncated(b.String())
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// truncated replaces the last rune of s with an ellipsis, keeping its length in runes.
func truncated(s string) string {
	_, size := utf8.DecodeLastRuneInString(s)
	return s[:len(s)-size] + "…"
}
