package detect

import (
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
)

// GenericAddr finds the address of an unknown record where programs, not their clients,
// write one, and is conservative: a missed address is better than a false one, since
// the record is unknown and nothing says which of its words the client wrote. The
// positions ("slots") are
//
//   - " from ADDR port N" (sshd and the programs that copy it), with the port;
//   - "rhost=ADDR" (PAM), "rip=ADDR" (dovecot's lines alone), "SRC=ADDR DST=" (the
//     kernel's packet filter, and ulogd's, alone), each after a space or at the start;
//   - "[ADDR]" where mail servers write the client: "from NAME[ADDR]", "from [ADDR]",
//     "client=NAME[ADDR]", "NAME[ADDR]:" at the start (postfix, postscreen, sshd 9.8's
//     "drop connection #N from [ADDR]"), and exim's host forms after "H=" or "from ":
//     "NAME [ADDR]", "(HELO) [ADDR]", "NAME (HELO) [ADDR]" and "[ADDR]"; never
//     "to NAME[ADDR]" or "relay=NAME[ADDR]", the hosts we connected to;
//   - proftpd's "HOST (NAME[ADDR]) - " (syslog) or "HOST (NAME[ADDR]): " (its own log)
//     at the start of its messages, where NAME, when it is an address, must be ADDR.
//
// Only a slot before the message's first quote (", ' or `) may name the address: what
// follows a quote is often the client's own text echoed (sshd's "client sent invalid
// protocol identifier \"…\"" writes the client's first line and no address), and a
// client can write quotes too, so no quoted part is skipped to find more of the
// program's text after it. The one exception is exim's `SMTP protocol error in "CMD"
// H=…` (or syntax error): exim quotes the client's command there (smtp_cmd_buffer),
// and when CMD is a bare SMTP verb or "AUTH MECH" it holds no slot, and exim writes
// its client's H= after it, which counts against any slot a client's command could
// have placed after a quote of its own.
//
// A user name is the client's text too, may hold spaces and spell any slot, and may end
// the message (OpenSSH ≤ 7.4's "input_userauth_request: invalid user NAME",
// "Disconnecting: Too many authentication failures for NAME"): no slot in a user name
// or other text the client chose names the address (userNames): after the words
// "user" or "for" ("for" only in other programs than exim, whose "for" precedes fixed
// text or recipients, after its H=), from a "user=", "login=", "helo=", … on
// (clientKeys), in a line of dovecot's auth process ("auth: …", "auth-worker(N): …"),
// which writes its client as "MECH(USER,ADDR,<ID>)" after the user name, or of its mail
// processes ("imap(USER)<PID><ID>: …"), from dovecot's "proxy(USER)" on, and inside
// the name of its login lines' "user=<NAME>" (dovecotUserEnd: dovecot's rip= after it
// still names the client). Nor does any slot of a line that is all the client's text
// or names only hosts the program connected to (namesNoClient: postfix's cleanup
// echoing a header before its client, its smtp and lmtp, exim's deliveries).
//
// Every slot counts against the others, those after a quote or a user name too, and so
// does the address of a message's last " from ADDR" when the message ends there (or in
// " [preauth]"), where sshd's PAM failures and older versions write the client: when
// any slot holds no address (sshd writes "from HOSTNAME port" with UseDNS, PAM an empty
// "rhost=", postscreen a zoned "[fe80::1%eth0]", postfix "unknown[unknown]") or a
// different one (a user name that spells "x from 6.6.6.6 port 22" next to the real
// one), the record names none. A slot the program wrote but could not fill with a
// usable address never lets a later one, in the client's text that follows it, name
// the address instead.
func GenericAddr(program, msg string) (netip.Addr, uint16, bool) {
	own := ownTextEnd(msg)
	users := userNames(program, msg)
	// mayName says whether a slot at position at may name the address: before the
	// first quote, and in no user name or other text of the client's.
	mayName := func(at int) bool { return at < own && !within(users, at) }
	var found netip.Addr
	var port uint16
	named := false // whether a slot that may name the address holds it
	// take judges one slot's value at position at; false: the record names no address.
	// A slot where mayName is false only counts against the others.
	take := func(value string, at int) bool {
		addr, ok := slotAddr(value)
		if !ok || (found.IsValid() && found != addr) {
			return false
		}
		found = addr
		if mayName(at) {
			named = true
		}
		return true
	}
	for from := 0; ; {
		i := strings.Index(msg[from:], " from ")
		if i < 0 {
			break
		}
		at := from + i + len(" from ")
		from = at
		value, rest, _ := strings.Cut(msg[at:], " ")
		after, ok := strings.CutPrefix(rest, "port ")
		if !ok || value == "" || value[0] == '[' {
			continue // not this slot ("from [ADDR]" is a mail server's, below)
		}
		if !take(value, at) {
			return netip.Addr{}, 0, false
		}
		if mayName(at) {
			port = 0
			n, j := 0, 0
			for ; j < len(after) && j < 5 && after[j] >= '0' && after[j] <= '9'; j++ {
				n = n*10 + int(after[j]-'0')
			}
			if j > 0 && n <= 65535 {
				port = uint16(n)
			}
		}
	}
	// sshd's "error: PAM: MSG for [illegal user ]NAME from ADDR" (auth-pam.c), older
	// versions' "Invalid user NAME from ADDR": the last " from ADDR" of the message,
	// counted against the others (a user name's "from 6.6.6.6 port 22") and naming
	// none itself (a user name may be what ends the message).
	if i := strings.LastIndex(msg, " from "); i >= 0 {
		value := strings.TrimSuffix(msg[i+len(" from "):], " [preauth]")
		if _, ok := slotAddr(value); ok && !take(value, len(msg)) {
			return netip.Addr{}, 0, false
		}
	}
	for _, key := range []string{"rhost=", "rip=", "SRC="} {
		if key == "rip=" && program != "dovecot" || key == "SRC=" && program != "kernel" && program != "ulogd" {
			// Only dovecot writes rip=, and only the packet filter SRC=: elsewhere
			// either is the client's text, even where the program writes no client.
			continue
		}
		for from := 0; ; {
			i := strings.Index(msg[from:], key)
			if i < 0 {
				break
			}
			at := from + i + len(key)
			from = at
			if at > len(key) && msg[at-len(key)-1] != ' ' {
				continue // "ruser=rhost=…", "XSRC=": another key
			}
			end := strings.IndexAny(msg[at:], " ,")
			if end < 0 {
				end = len(msg) - at
			}
			if key == "SRC=" && !strings.HasPrefix(msg[at+end:], " DST=") {
				continue // not the packet filter's
			}
			if !take(msg[at:at+end], at) {
				return netip.Addr{}, 0, false
			}
		}
	}
	if name, addr, at, ok := proftpdClient(program, msg); ok {
		if _, isAddr := slotAddr(name); isAddr && !take(name, len(msg)) {
			return netip.Addr{}, 0, false // "(6.6.6.6[203.0.113.7])": a PTR record's
		}
		if !take(addr, at) {
			return netip.Addr{}, 0, false
		}
	}
	for from := 0; ; {
		i := strings.IndexByte(msg[from:], '[')
		if i < 0 {
			break
		}
		at := from + i
		from = at + 1
		if !mailClientBracket(msg[:at]) {
			continue // "[preauth]", "[pid 1]", "to mx[ADDR]:25", proftpd's "(NAME[ADDR])", above
		}
		// The mail server's client is here, and the slot holds "[ADDR]" and a separator,
		// or the record names no address: a zoned ("[fe80::1%eth0]"), malformed or
		// "[unknown]" client must not let a later slot, in the client's text that
		// follows (postscreen's "after CONNECT: GET / …"), name it.
		end := at + 1
		for end < len(msg) && addressChars(msg[end:end+1]) {
			end++
		}
		if end == len(msg) || msg[end] != ']' || end+1 < len(msg) && !strings.ContainsRune(":,; ", rune(msg[end+1])) {
			return netip.Addr{}, 0, false
		}
		if !take(msg[at+1:end], at) {
			return netip.Addr{}, 0, false
		}
	}
	if !named {
		return netip.Addr{}, 0, false
	}
	return found, port, true
}

// ownTextEnd is where the program's own text of msg ends: at its first quote, or, in
// exim's `SMTP protocol error in "CMD" H=…` with CMD a bare SMTP verb or "AUTH MECH"
// (text that holds no slot), at the first quote after CMD's (see GenericAddr).
func ownTextEnd(msg string) int {
	quote := strings.IndexAny(msg, "\"'`")
	if quote < 0 {
		return len(msg)
	}
	for _, prefix := range []string{`SMTP protocol error in "`, `SMTP syntax error in "`} {
		if quote != len(prefix)-1 || !strings.HasPrefix(msg, prefix) {
			continue
		}
		cmd, rest, ok := strings.Cut(msg[len(prefix):], `"`)
		if !ok || !eximCommand(cmd) || !strings.HasPrefix(rest, " H=") {
			return quote
		}
		start := len(prefix) + len(cmd) + 1
		if i := strings.IndexAny(msg[start:], "\"'`"); i >= 0 {
			return start + i
		}
		return len(msg)
	}
	return quote
}

// smtpVerbs are the SMTP commands exim may quote bare in a protocol or syntax error.
var smtpVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "ETRN": true,
	"HELP": true, "STARTTLS": true, "AUTH": true,
}

// eximCommand says whether cmd is a bare SMTP verb or "AUTH MECH" (LOGIN, PLAIN,
// CRAM-MD5, …): text in which no slot can be written.
func eximCommand(cmd string) bool {
	verb, mech, hasMech := strings.Cut(cmd, " ")
	if !smtpVerbs[strings.ToUpper(verb)] {
		return false
	}
	if !hasMech {
		return true
	}
	if !strings.EqualFold(verb, "AUTH") || mech == "" || len(mech) > 20 {
		return false
	}
	for i := 0; i < len(mech); i++ {
		c := mech[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// A textSpan is the part [start, end) of a message that may be a user name or other
// text a client chose (see GenericAddr).
type textSpan struct{ start, end int }

// clientKeys start a word whose value the client chose: a user or login name, a HELO,
// a SASL login, an envelope sender or recipient. Nothing says where such a value ends
// (dovecot and courier write it as received, spaces, ">" and "," included), so the
// rest of the message counts as the client's, but in dovecot's login lines (see
// dovecotUserEnd).
var clientKeys = []string{"user=", "login=", "helo=", "sasl_username=", "from=<", "to=<"}

// userNames are the parts of program's msg that may be a user name or other text the
// client chose, where a slot only counts against the others (see GenericAddr): the
// rest of the message after its first word "user" ("user:", "(user" too) or (but in
// exim's) "for", in any case, or from a word that starts with a key of clientKeys;
// all of a line of dovecot's auth process or of its mail processes; in dovecot's login
// lines, "proxy(USER)…" to the end, and "user=<USER>" to the end of USER (dovecotUserEnd).
func userNames(program, msg string) []textSpan {
	all := []textSpan{{0, len(msg)}}
	if strings.HasPrefix(msg, "auth: ") || strings.HasPrefix(msg, "auth-worker(") {
		return all
	}
	if namesNoClient(program, msg) {
		return all
	}
	var spans []textSpan
	if program == "dovecot" {
		if open, colon := strings.IndexByte(msg, '('), strings.Index(msg, ": "); open >= 0 && (colon < 0 || open < colon) {
			return all // "imap(USER)<PID><ID>: ", "lmtp(USER)…": USER may be anything
		}
		if i := wordIndex(msg, "proxy("); i >= 0 {
			spans = append(spans, textSpan{i, len(msg)}) // "imap-login: proxy(USER): …"
		}
		if i := wordIndex(msg, "user=<"); i >= 0 {
			spans = append(spans, textSpan{i, dovecotUserEnd(msg, i)})
		}
	}
	exim := program == "exim" || program == "exim4"
	for i := 0; i < len(msg); {
		end := len(msg)
		if j := strings.IndexByte(msg[i:], ' '); j >= 0 {
			end = i + j
		}
		if !within(spans, i) {
			word := msg[i:end]
			// "user", "User:", "(user", "for": the name may follow
			bare := strings.TrimSuffix(strings.TrimPrefix(word, "("), ":")
			if strings.EqualFold(bare, "user") || !exim && strings.EqualFold(bare, "for") {
				return append(spans, textSpan{min(end+1, len(msg)), len(msg)})
			}
			for _, key := range clientKeys {
				if len(word) >= len(key) && strings.EqualFold(word[:len(key)], key) {
					return append(spans, textSpan{i, len(msg)})
				}
			}
		}
		i = end + 1
	}
	return spans
}

// namesNoClient says whether no slot of program's msg can be where the program wrote
// its client (see GenericAddr): all of it is text a client chose, or names only hosts
// the program connected to.
//
//   - postfix's cleanup writes a header_checks or body_checks action as "ID: ACTION:
//     CLASS TEXT from ORIGIN; …" (cleanup_act_log), TEXT being up to 200 characters
//     of the message's own header or body line, before its origin, which is "local"
//     for a message submitted on this host; and "ID: message-id=VALUE" is the
//     message's header as written. A header "Subject: hi from [6.6.6.6]: x" must not
//     name 6.6.6.6.
//   - postfix's smtp and lmtp are clients: the hosts in their lines are the servers
//     they delivered to, and "host NAME[ADDR] said: TEXT" is that server's reply.
//   - exim's delivery lines ("ID => …", "->", "*>", "**", "==") name the host it
//     delivered to after H=, and "SMTP error from remote mail server after …: TEXT"
//     is that host's reply.
func namesNoClient(program, msg string) bool {
	if daemon, ok := postfixDaemon(program); ok {
		switch daemon {
		case "smtp", "lmtp":
			return true
		case "cleanup":
			_, rest, ok := strings.Cut(msg, ": ")
			if !ok {
				return false
			}
			if strings.HasPrefix(rest, "message-id=") || strings.HasPrefix(rest, "resent-message-id=") {
				return true
			}
			action, rest, ok := strings.Cut(rest, ": ")
			if !ok || !cleanupActions[action] {
				return false
			}
			class, _, _ := strings.Cut(rest, " ")
			return class == "header" || class == "body" || class == "content"
		}
		return false
	}
	if program != "exim" && program != "exim4" {
		return false
	}
	// "[DATE TIME [ZONE]] [[PID]] ID ARROW …": the ID among the first five words
	words := strings.SplitN(msg, " ", 7)
	for i := 0; i+1 < len(words) && i < 5; i++ {
		if eximMessageID(words[i]) {
			switch words[i+1] {
			case "=>", "->", "*>", "**", "==":
				return true
			}
			return false
		}
	}
	return false
}

// cleanupActions are the actions postfix's cleanup logs for a header or body check.
var cleanupActions = map[string]bool{
	"reject": true, "warning": true, "filter": true, "discard": true, "hold": true,
	"delay": true, "prepend": true, "replace": true, "redirect": true,
}

// postfixDaemon is the daemon of a postfix program name: "smtp" of "postfix/smtp" or of
// a second instance's "postfix-out/smtp".
func postfixDaemon(program string) (string, bool) {
	instance, daemon, ok := strings.Cut(program, "/")
	if !ok || !strings.HasPrefix(instance, "postfix") {
		return "", false
	}
	return daemon, true
}

// eximMessageID says whether w is an exim message ID: "1qA2bC-000123-AB", or 4.97's
// longer "1x5dJQ-00000002ksM-1pMm".
func eximMessageID(w string) bool {
	a, rest, ok := strings.Cut(w, "-")
	if !ok || len(a) != 6 || !alphanumeric(a) {
		return false
	}
	b, c, ok := strings.Cut(rest, "-")
	return ok && (len(b) == 6 && len(c) == 2 || len(b) == 11 && len(c) == 4) && alphanumeric(b) && alphanumeric(c)
}

func alphanumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// dovecotUserEnd is where the user name of a dovecot login line ends, its "user=<"
// being at start: after the last ">" of the line but a final ", session=<ID>"'s, or at
// the end of the line when there is none. Dovecot writes the name as the client sent
// it (str_sanitize only replaces control characters), so it may hold ">" and spell
// anything dovecot writes after it ("x>, method=PLAIN, rip=6.6.6.6, lip=…,
// session=<y"); but what dovecot writes after it holds no "<" or ">" but in the
// session=<ID> that ends the line (login_log_format_elements: user=<%u> method=%m
// rip=%r lip=%l mpid=%e %c session=<%{session}>, in that order), so the name's own ">"
// is at or before the last one, and a rip= after that is dovecot's. Only a format that
// writes the user name last, or followed by the session alone, would leave a name that
// ends in ", rip=ADDR, session=<ID" indistinguishable from dovecot's text, as it would
// for the shipped attack rules (attack.d/mail).
func dovecotUserEnd(msg string, start int) int {
	tail := msg[start:]
	const session = ", session=<"
	if i := strings.LastIndex(tail, session); i >= 0 && strings.HasSuffix(tail, ">") && !strings.ContainsAny(tail[i+len(session):len(tail)-1], "<>") {
		tail = tail[:i]
	}
	if j := strings.LastIndexByte(tail, '>'); j >= 0 {
		return start + j + 1
	}
	return len(msg)
}

// wordIndex is the index of the first key in msg that starts msg or follows a space;
// -1 for none.
func wordIndex(msg, key string) int {
	for from := 0; ; {
		i := strings.Index(msg[from:], key)
		if i < 0 {
			return -1
		}
		if at := from + i; at == 0 || msg[at-1] == ' ' {
			return at
		}
		from += i + 1
	}
}

// within says whether position at lies in one of spans.
func within(spans []textSpan, at int) bool {
	for _, s := range spans {
		if at >= s.start && at < s.end {
			return true
		}
	}
	return false
}

// proftpdClient reads proftpd's "HOST (NAME[ADDR]) - " (syslog) or "HOST (NAME[ADDR]): "
// (its SystemLog) at the start of program's msg: NAME, ADDR and ADDR's position.
func proftpdClient(program, msg string) (name, addr string, at int, ok bool) {
	if program != "proftpd" {
		return "", "", 0, false
	}
	host, rest, ok := strings.Cut(msg, " (")
	if !ok || host == "" || strings.TrimFunc(host, isHostOrAddressRune) != "" {
		return "", "", 0, false
	}
	name, rest, ok = strings.Cut(rest, "[")
	if !ok || name == "" || strings.TrimFunc(name, isHostOrAddressRune) != "" {
		return "", "", 0, false
	}
	// ADDR may be no usable address ("fe80::1%eth0"): the slot is still proftpd's, and
	// names none then, rather than let the client's text after it name one.
	addr, rest, ok = strings.Cut(rest, "])")
	if !ok || addr == "" || strings.ContainsAny(addr, " []()") || !strings.HasPrefix(rest, " - ") && !strings.HasPrefix(rest, ": ") {
		return "", "", 0, false
	}
	return name, addr, len(host) + len(" (") + len(name) + len("["), true
}

func isHostOrAddressRune(r rune) bool {
	return isHostNameRune(r) || r == ':'
}

// slotAddr parses a slot's value: an address without a zone, unmapped, that a client
// can connect from (not "0.0.0.0", "::" or a multicast group, which a program writes
// for a client it could not name).
func slotAddr(value string) (netip.Addr, bool) {
	if !addressChars(value) {
		return netip.Addr{}, false // most tokens are no address: skip ParseAddr's error
	}
	addr, err := netip.ParseAddr(value)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	addr = addr.Unmap()
	if addr.IsUnspecified() || addr.IsMulticast() {
		return netip.Addr{}, false
	}
	return addr, true
}

// mailClientBracket says whether a "[" after before is where a mail server writes its
// client's address (see GenericAddr).
func mailClientBracket(before string) bool {
	if name := strings.TrimRightFunc(before, isHostNameRune); name != before {
		// "NAME[ADDR]" after "from " or "client=", or postfix's "warning: NAME[ADDR]: …"
		return endsWithWord(name, "from ") || endsWithWord(name, "client=") || name == "warning: "
	}
	if endsWithWord(before, "from ") || endsWithWord(before, "H=") {
		return true // "from [ADDR]", exim's "H=[ADDR]"
	}
	// exim: "H=NAME [ADDR]", "H=(HELO) [ADDR]", "H=NAME (HELO) [ADDR]", and the same
	// after "from " ("SMTP connection from (HELO) [ADDR]:PORT lost").
	rest, ok := strings.CutSuffix(before, " ")
	if !ok {
		return false
	}
	if helo, ok := strings.CutSuffix(rest, ")"); ok {
		// A HELO is a host name or an address literal, short: a line of ") [1]"
		// must not make each bracket search the whole line.
		open := strings.LastIndexByte(helo[max(0, len(helo)-300):], '(')
		if open < 0 {
			return false
		}
		open += max(0, len(helo)-300)
		if strings.ContainsRune(helo[open:], ' ') {
			return false // exim refuses a HELO with a space unless told to accept junk
		}
		if rest = helo[:open]; endsWithWord(rest, "H=") || endsWithWord(rest, "from ") {
			return true // "H=(HELO) ", "from (HELO) "
		}
		if rest, ok = strings.CutSuffix(rest, " "); !ok {
			return false
		}
	}
	name := strings.TrimRightFunc(rest, isHostNameRune)
	return name != rest && (endsWithWord(name, "H=") || endsWithWord(name, "from ")) // "H=NAME ", "from NAME "
}

// endsWithWord says whether s ends with w, and w starts s or follows a space.
func endsWithWord(s, w string) bool {
	return s == w || strings.HasSuffix(s, " "+w)
}

func isHostNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
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
	// The rule is for the record the line stands for: normal rules are tried on the
	// message inside rsyslog's "message repeated N times: [ …]", as Shape reads it.
	msg := unrepeat(h.Message)
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
		b.WriteString(TagSeparator(msg)) // the line of a message that starts with a space has one more
	} else {
		b.WriteString("^")
	}
	for _, t := range shapeTokens(msg) {
		if t.mask != "" {
			b.WriteString(maskPatterns[t.mask])
			continue
		}
		b.WriteString(regexp.QuoteMeta(t.text))
	}
	b.WriteString("$")
	return b.String(), nil
}
