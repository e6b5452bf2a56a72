package detect

import (
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// GenericAddr finds the address of an unknown record in a position that programs, not
// remote users, write: "from ADDR port N", "rhost=ADDR", "[ADDR]", "SRC=ADDR" and
// "rip=ADDR,". A crafted user name may come before what the program writes, and the
// client's words (a second user name, a password) after it: every occurrence counts,
// and when they name different addresses, the record names none.
func GenericAddr(msg string) (netip.Addr, uint16, bool) {
	var found netip.Addr
	var port uint16
	for _, pos := range []struct{ before, after string }{
		{" from ", " port "}, {"rhost=", ""}, {"[", "]"}, {"SRC=", " "}, {"rip=", ","},
	} {
		// Every occurrence, not only the last: text the client wrote may follow the
		// address too, and two different addresses make the record name none.
		for from := 0; ; {
			i := strings.Index(msg[from:], pos.before)
			if i < 0 {
				break
			}
			rest := msg[from+i+len(pos.before):]
			from += i + len(pos.before)
			end := strings.IndexAny(rest, " ],")
			if end < 0 {
				end = len(rest)
			}
			if pos.after != "" && !strings.HasPrefix(rest[end:], pos.after) {
				continue
			}
			if !addressChars(rest[:end]) {
				continue // most tokens are no address: skip ParseAddr's error
			}
			addr, err := netip.ParseAddr(rest[:end])
			if err != nil || addr.Zone() != "" {
				continue
			}
			addr = addr.Unmap()
			if found.IsValid() && found != addr {
				return netip.Addr{}, 0, false
			}
			found = addr
			if pos.after == " port " {
				p := rest[end+len(pos.after):]
				n, j := 0, 0
				for ; j < len(p) && j < 5 && p[j] >= '0' && p[j] <= '9'; j++ {
					n = n*10 + int(p[j]-'0')
				}
				if j > 0 && n <= 65535 {
					port = uint16(n)
				}
			}
		}
	}
	return found, port, found.IsValid()
}

func addressChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// A shape token is a piece of a message: literal text or a masked value.
type shapeToken struct {
	text string // the text as logged
	mask string // "" for literal text, else "<ADDR>", "<N>", "<HEX>" or "<USER>"
}

// userKeys are words after which the next word is a user name.
var userKeys = map[string]bool{"user": true, "for": true, "user=": true, "ruser=": true, "logname=": true, "USER": true}

// notUsers are words that follow a user key but are the program's own text.
var notUsers = map[string]bool{"invalid": true, "user": true, "authenticating": true, "illegal": true}

// shapeTokens splits msg into literal text and masked values (numbers, addresses, hex,
// user names), so records that differ only in those fall into one shape.
func shapeTokens(msg string) []shapeToken {
	var out []shapeToken
	lit := func(s string) {
		if s == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].mask == "" {
			out[n-1].text += s
			return
		}
		out = append(out, shapeToken{text: s})
	}
	prevWord := ""
	for len(msg) > 0 {
		end := strings.IndexAny(msg, " \t=,;()<>\"'[]@")
		if end == 0 {
			sep := msg[:1]
			switch {
			case sep == "=" && prevWord != "":
				prevWord += "="
			case sep == " " || sep == "<" || sep == "[" || sep == "'" || sep == "\"":
				// "user <x>", "user=<x>", "user [x]", "user 'x'": the name follows
			default:
				prevWord = ""
			}
			lit(sep)
			msg = msg[1:]
			continue
		}
		if end < 0 {
			end = len(msg)
		}
		word := msg[:end]
		msg = msg[end:]
		mask := wordMask(word)
		if mask == "" && userKeys[prevWord] && !notUsers[word] {
			mask = "<USER>"
		}
		if mask == "" {
			lit(word)
		} else {
			value := strings.TrimRight(word, ".:") // "4F2A81C0123:" is a value and a colon
			out = append(out, shapeToken{text: value, mask: mask})
			lit(word[len(value):])
		}
		prevWord = word
	}
	return out
}

// wordMask says which mask a word gets, "" when it stays as it is.
func wordMask(w string) string {
	trimmed := strings.TrimRight(w, ".:")
	if trimmed == "" {
		return ""
	}
	if _, err := netip.ParseAddr(trimmed); err == nil {
		return "<ADDR>"
	}
	if _, err := netip.ParseAddrPort(trimmed); err == nil {
		return "<ADDR>"
	}
	digits, hex := 0, true
	for i := 0; i < len(trimmed); i++ {
		c := trimmed[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			hex = false
		}
	}
	switch {
	case digits == len(trimmed):
		return "<N>"
	case strings.HasPrefix(trimmed, "0x") && len(trimmed) > 2:
		return "<HEX>"
	case hex && digits > 0 && len(trimmed) >= 6:
		return "<HEX>"
	case digits > 0 && isNumberish(trimmed):
		return "<N>"
	}
	return ""
}

// isNumberish is true for numbers with separators: 1.5, 12:30:01, 2026-11-20, 12345/67.
func isNumberish(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && !strings.ContainsRune(".:-/+%", rune(c)) && c != 'T' && c != 'Z' {
			return false
		}
	}
	return true
}

// Shape reduces an unknown record's message to its shape: the program and the message
// with numbers, addresses, hex and user names masked, e.g.
// "sshd: Connection from <ADDR> port <N> on <ADDR> port <N>".
func Shape(program, msg string) string {
	if program == "" && msg == "" {
		return abusewatch.EmptyShape
	}
	var b strings.Builder
	if program != "" {
		b.WriteString(program)
		b.WriteString(": ")
	}
	for _, t := range shapeTokens(unrepeat(msg)) {
		if t.mask != "" {
			b.WriteString(t.mask)
		} else {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// The patterns a suggested rule uses for masked values.
var maskPatterns = map[string]string{
	"<ADDR>": `[[:xdigit:].:]+`,
	"<N>":    `[[:digit:].:/+%TZ-]+`,
	"<HEX>":  `(0x)?[[:xdigit:]]+`,
	"<USER>": `[^[:space:]]+`,
}

// Suggest proposes a normal rule for records shaped like line, for the admin to review:
// a logcheck-style whole-line rule (so it also works in logcheck) whose program and
// literal text are the sample's and whose masked values match any value of their kind.
// It fails when line has no syslog header.
func Suggest(line string) (string, error) {
	h, err := ParseHeader(line, time.Now(), nil)
	if err != nil {
		return "", err
	}
	if h.Program == "" && h.Message == "" {
		// "^$" would drop every empty message, of any program and any host.
		return "", errors.New("a header with no message: no rule is proposed for it")
	}
	var b strings.Builder
	if h.Program != "" {
		b.WriteString(`^(\w{3} [ :[:digit:]]{11}|[0-9T:.+-]{32}) [._[:alnum:]-]+ `)
		b.WriteString(regexp.QuoteMeta(h.Program))
		if h.format != "" {
			// a service's own log format (native.go): it may log to syslog too, with a PID or not
			b.WriteString(`(\[[[:digit:]]+\])?`)
		} else if h.PID != 0 {
			b.WriteString(`\[[[:digit:]]+\]`)
		}
		b.WriteString(TagSeparator(h.Message)) // the line of a message that starts with a space has one more
	} else {
		b.WriteString("^")
	}
	for _, t := range shapeTokens(h.Message) {
		if t.mask != "" {
			b.WriteString(maskPatterns[t.mask])
			continue
		}
		b.WriteString(regexp.QuoteMeta(t.text))
	}
	b.WriteString("$")
	return b.String(), nil
}
