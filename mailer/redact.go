package mailer

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/abusewatch/abusewatch"
)

// Redaction says what a report leaves out of the lines it quotes and of what it says
// of our hosts ([mail] redact). The desk still gets the attacker's address, port, times
// and the kind of attack: all that acting on the report needs.
type Redaction struct {
	// Users masks the user name each quoted line names (the attack rule's user
	// capture, and sasl_username=, dovecot's user=<…> and passdb(NAME,…)): a name
	// tells the desk, and whoever it forwards the report to, which accounts exist, and
	// a password typed as a user name is a password.
	Users bool
	// Hosts writes our hosts as their public address ([mail] hosts) or "host-N", never
	// by name, and masks the local addresses our programs write (dovecot's lip=,
	// sshd's "on ADDR", proftpd's first field, the firewall's DST=).
	Hosts bool
}

// Names are what r masks as [mail] redact names it, sorted ("hosts", "users"); none
// when it masks nothing. A report records them (Report.Redacted): the outbox writes it
// again when the config says otherwise before it goes.
func (r Redaction) Names() []string {
	var out []string
	if r.Hosts {
		out = append(out, "hosts")
	}
	if r.Users {
		out = append(out, "users")
	}
	return out
}

const (
	userMask    = "<user>"
	localMask   = "<our-address>"
	messageMask = "<message withheld: it names a user abusewatch could not tell apart from the rest>"
)

// withheld is what a quoted line says in place of a message withheld (messageMask): in
// our own words, what the rules read of it at anchored positions, the kind of line, the
// attacker's address and port, never its text. A bot that tries user names that are
// also words of the line ("port", "from", "ssh2", its own address) made the whole
// message go, and with it the address and port a desk looks its customer up by (review
// desk48 M4). Masking each occurrence of the name instead would mask the words the
// address and port stand between, or the address itself when that is the name.
func withheld(ev abusewatch.Event) string {
	s := strings.TrimSuffix(messageMask, ">") + "; " + string(ev.Class)
	if ev.Class == "" {
		s += "a line"
	}
	if a := ev.Addr.Unmap(); a.IsValid() {
		s += " from " + a.String()
	}
	if ev.Port != 0 {
		s += " port " + strconv.Itoa(int(ev.Port))
	}
	if ev.LocalPort != 0 {
		s += " to our port " + strconv.Itoa(int(ev.LocalPort))
	}
	return s + ">"
}

// hostLabels numbers our hosts for one report when Redaction.Hosts is on: each name
// (sorted) becomes host-1, host-2, …, the same in every line, the memo and the X-ARF
// parts, so the desk can still tell one host from another.
func hostLabels(incidents []abusewatch.Incident) map[string]string {
	var names []string
	add := func(h string) {
		if h != "" && !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	for i := range incidents {
		for _, h := range incidents[i].Hosts {
			add(h)
		}
		for _, ev := range incidents[i].Evidence {
			add(ev.Host)
		}
	}
	slices.Sort(names)
	out := make(map[string]string, len(names))
	for i, h := range names {
		out[h] = "host-" + strconv.Itoa(i+1)
	}
	return out
}

// hostLabel is how a redacting report names our host h to a source of src's family:
// its public address of that family from [mail] hosts (the one the attacker reached),
// else host-N.
func (c *Composer) hostLabel(h string, src netip.Addr) string {
	var addrs []string
	for _, a := range c.reporter.Hosts[h] {
		if a.IsValid() && (!src.IsValid() || a.Unmap().Is4() == src.Unmap().Is4()) {
			addrs = append(addrs, a.Unmap().String())
		}
	}
	if len(addrs) > 0 {
		return strings.Join(addrs, ", ")
	}
	if l, ok := c.labels[h]; ok {
		return l
	}
	// A host no incident of the report named: a label no other host has.
	l := "host-" + strconv.Itoa(len(c.labels)+1)
	if c.labels != nil {
		c.labels[h] = l
	}
	return l
}

// redactLine is ev's line with what c.redact masks masked. The line is the attacker's
// text in part: every search is for our programs' fixed words, and where the user name
// cannot be told apart from the rest, the whole message is withheld rather than the
// name left in.
func (c *Composer) redactLine(ev abusewatch.Event) string {
	line := ev.Line
	if !c.redact.Users && !c.redact.Hosts {
		return line
	}
	hostAt, msgAt := headerOf(line, ev.Host, ev.Service)
	head, msg := line[:msgAt], line[msgAt:]
	if c.redact.Users {
		msg = maskUsers(msg, ev)
	}
	if c.redact.Hosts {
		if hostAt >= 0 {
			head = head[:hostAt] + c.hostLabel(ev.Host, ev.Addr) + head[hostAt+len(ev.Host):]
		}
		msg = c.maskLocal(msg, ev)
	}
	return head + msg
}

// headerOf finds, in a stored line, where our host's name stands in its syslog header
// (-1 when not found) and where the program's message begins: after "PROGRAM[PID]: " or
// "PROGRAM: " following the host. Where the program's tag is not there (RFC 5424's
// "PROGRAM PID - -", a program's own log format), the message is all after the host,
// or all the line.
func headerOf(line, host, program string) (hostAt, msgAt int) {
	hostAt = -1
	from := 0
	if host != "" {
		if i := strings.Index(line, " "+host+" "); i >= 0 {
			hostAt, from = i+1, i+1+len(host)+1
		}
	}
	if program == "" || !strings.HasPrefix(line[from:], program) {
		return hostAt, from
	}
	i := from + len(program)
	if i < len(line) && line[i] == '[' {
		j := strings.IndexByte(line[i:], ']')
		if j < 0 {
			return hostAt, from
		}
		i += j + 1
	}
	if !strings.HasPrefix(line[i:], ":") {
		return hostAt, from
	}
	i++
	if i < len(line) && line[i] == ' ' {
		i++
	}
	return hostAt, i
}

// maskUsers masks the user name in msg: ev.User where it stands once, or once between
// the characters our programs put around a name ("for NAME from", "user=<NAME>",
// "(NAME,", "'NAME'", "[NAME]"); where it is not found that way, the whole message,
// said again from the event's own fields (withheld). A
// line the rules took no name from is searched for the names our programs write at
// fixed words.
func maskUsers(msg string, ev abusewatch.Event) string {
	if ev.User == "" {
		return maskNamedUsers(msg, ev.Addr)
	}
	var at, bounded []int
	for i := 0; ; {
		j := strings.Index(msg[i:], ev.User)
		if j < 0 {
			break
		}
		at = append(at, i+j)
		i += j + 1
	}
	for _, i := range at {
		if boundedAt(msg, i, i+len(ev.User)) {
			bounded = append(bounded, i)
		}
	}
	i := -1
	switch {
	case len(at) == 1:
		i = at[0]
	case len(bounded) == 1:
		i = bounded[0]
	default:
		return withheld(ev)
	}
	// And the names at fixed words, in their own shape: user=<<user>> becomes
	// user=<user>.
	return maskNamedUsers(msg[:i]+userMask+msg[i+len(ev.User):], ev.Addr)
}

// boundedAt says whether msg[i:j] stands between characters our programs write around
// a user name.
func boundedAt(msg string, i, j int) bool {
	before := i == 0 || strings.IndexByte(" <([\"'=,", msg[i-1]) >= 0
	after := j == len(msg) || strings.IndexByte(" >)]\"',:;", msg[j]) >= 0
	return before && after
}

// passdbs are dovecot's passdb and userdb drivers, which write "DRIVER(USER,ADDR…)".
var passdbs = []string{"pam(", "passwd-file(", "passwd(", "shadow(", "sql(", "ldap(", "checkpassword(", "bsdauth(", "lua(", "oauth2("}

// mailProcesses are dovecot's mail processes, which begin a line "PROCESS(USER)…".
var mailProcesses = []string{"imap(", "pop3(", "lmtp(", "submission(", "managesieve(", "doveadm("}

// maskNamedUsers masks the user names our programs write at fixed words in a line no
// rule took a name from (a line of class unknown, or a rule without a user group):
// postfix's sasl_username= (the rest of the line: postfix writes it last), dovecot's
// user=<…> (up to its last ">, " before method= or rip=, else the rest of the line),
// PAM's user= (the rest of the line), dovecot's PROCESS(NAME)< and its passdb's
// DRIVER(NAME,ADDR (up to the source's address, else the rest).
func maskNamedUsers(msg string, addr netip.Addr) string {
	if i := strings.Index(msg, "sasl_username="); i >= 0 {
		msg = msg[:i+len("sasl_username=")] + userMask
	}
	if i := strings.Index(msg, "user=<"); i >= 0 {
		start := i + len("user=<")
		end := max(strings.LastIndex(msg, ">, method="), strings.LastIndex(msg, ">, rip="))
		if end < start {
			msg = msg[:start] + "user>"
		} else {
			msg = msg[:start] + "user" + msg[end:]
		}
	}
	if i := strings.Index(msg, " user="); i >= 0 && !strings.HasPrefix(msg[i+len(" user="):], "<") {
		// PAM's "… rhost=ADDR user=NAME", written last.
		msg = msg[:i+len(" user=")] + userMask
	}
	for _, p := range mailProcesses {
		if !strings.HasPrefix(msg, p) {
			continue
		}
		// dovecot's mail processes: "imap(NAME)<PID><SESSION>: …".
		if end := strings.LastIndex(msg, ")<"); end >= len(p) {
			msg = p + userMask + msg[end:]
		} else {
			msg = p + userMask + ")"
		}
		break
	}
	for _, p := range passdbs {
		i := strings.Index(msg, p)
		if i < 0 || (i > 0 && msg[i-1] != ' ' && msg[i-1] != ':') {
			continue
		}
		start := i + len(p)
		end := -1
		if addr.IsValid() {
			end = strings.LastIndex(msg, ","+addr.String())
		}
		if end < start {
			msg = msg[:start] + userMask + ")"
		} else {
			msg = msg[:start] + userMask + msg[end:]
		}
		break
	}
	return msg
}

// localAt are the words after which our programs write our host's own address.
var localAt = []string{"lip=", " on [", " DST=", "\tDST="}

// maskLocal masks our host's own address where ev's program writes it: dovecot's lip=,
// sshd's "on [ADDR]:PORT" and "on ADDR port", the firewall's DST=, proftpd's first
// field and its closing "to ADDR:PORT". proftpd's first field is its ServerName when
// that is a name (our FQDN): it becomes the host's label, as in the header. An address
// [mail] hosts gives is public already and stays.
func (c *Composer) maskLocal(msg string, ev abusewatch.Event) string {
	program := ev.Service
	mask := func(msg string, i int, stop string) string {
		j := i
		for j < len(msg) && strings.IndexByte(stop, msg[j]) < 0 {
			j++
		}
		if a, err := netip.ParseAddr(msg[i:j]); err == nil && c.ownPublic(a) {
			return msg
		}
		if j == i {
			return msg
		}
		return msg[:i] + localMask + msg[j:]
	}
	for _, w := range localAt {
		for from := 0; ; {
			k := strings.Index(msg[from:], w)
			if k < 0 {
				break
			}
			i := from + k + len(w)
			msg = mask(msg, i, " ,]>\t")
			from = i
		}
	}
	if strings.HasPrefix(program, "sshd") {
		for from := 0; ; {
			k := strings.Index(msg[from:], " on ")
			if k < 0 {
				break
			}
			i := from + k + len(" on ")
			if sp := strings.IndexByte(msg[i:], ' '); sp > 0 && strings.HasPrefix(msg[i+sp:], " port ") {
				if _, err := netip.ParseAddr(msg[i : i+sp]); err == nil {
					msg = mask(msg, i, " ")
				}
			}
			from = i
		}
	}
	if program == "proftpd" {
		// "SERVER (REMOTE[ADDR]) - …": SERVER is ours (proftpd writes it, the attacker
		// writes nothing before it).
		if sp := strings.Index(msg, " ("); sp > 0 && !strings.ContainsAny(msg[:sp], " ()[]") {
			if _, err := netip.ParseAddr(msg[:sp]); err == nil {
				msg = mask(msg, 0, " ")
			} else {
				msg = c.hostLabel(ev.Host, ev.Addr) + msg[sp:]
			}
		}
		// "… found from ADDR [ADDR] to LOCAL:PORT", proftpd's last words: the user
		// name before them is the attacker's, so only the line's end is read.
		if k := strings.LastIndex(msg, " to "); k >= 0 {
			i := k + len(" to ")
			if colon := strings.LastIndexByte(msg[i:], ':'); colon > 0 {
				if _, err := strconv.ParseUint(msg[i+colon+1:], 10, 16); err == nil {
					if _, err := netip.ParseAddr(msg[i : i+colon]); err == nil {
						msg = mask(msg[:i+colon], i, "") + msg[i+colon:]
					}
				}
			}
		}
	}
	return msg
}

// ownPublic says whether a is one of our hosts' public addresses ([mail] hosts), which
// the report may name.
func (c *Composer) ownPublic(a netip.Addr) bool {
	for _, addrs := range c.reporter.Hosts {
		if slices.Contains(addrs, a.Unmap()) || slices.Contains(addrs, a) {
			return true
		}
	}
	return false
}
