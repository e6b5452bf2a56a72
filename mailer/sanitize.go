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
// reader sees what is really there, and the result is at most maxLineRunes runes. A
// longer text loses its middle, replaced by "…": a log line's end is where most
// programs write the address and port (after a user name of any length the client
// chose), and its start says when and where.
func sanitize(s string) string {
	kept := make([]rune, 0, min(len(s), 4*maxLineRunes))
	for _, r := range strings.ToValidUTF8(s, string(utf8.RuneError)) {
		switch {
		case r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) > maxLineRunes {
		head := maxLineRunes / 3
		tail := maxLineRunes - head - 1
		kept = append(append(kept[:head:head], '…'), kept[len(kept)-tail:]...)
	}
	return string(kept)
}
