package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
	"github.com/abusewatch/abusewatch/store"
)

// Whom a report goes to, and what it says about why (review session 21, D2 and D3), as
// `scan` does it: sshd lines from a file, a registry's RDAP server and a DNS server on
// loopback, the mail into a maildir.

// recipientCase is a pipeline reading logs in dir, asking the RDAP server rdapURL and the
// DNS server dns, in mode, with extra TOML appended to the config.
type recipientCase struct {
	t                   *testing.T
	dir, rdapURL, dns   string
	mode, policy, extra string
	correlate           string // appended to [correlate]
	lookup              string // appended to [lookup]
	guess               bool
	p                   *Pipeline
	st                  *store.Store
	logs                *logBuffer
}

func (c *recipientCase) config() string {
	return fmt.Sprintf(`
[reporter]
name = "Sam Example"
organisation = "Example Hosting Ltd"
email = "security@example.org"
timezone = "UTC"

[detect]
timezone = "UTC"

[correlate]
threshold = 5
window = "10m"
%s

[lookup]
rdap_server = %q
resolvers = [%q]
timeout = "2s"
guess = %v
%s
[mail]
transport = "maildir"
maildir = %q
from = "abusewatch@example.org"

[policy]
settle = "0s"
mode = %q
%s

[store]
path = %q
%s
`, c.correlate, c.rdapURL+"/", c.dns, c.guess, c.lookup, filepath.Join(c.dir, "maildir"), c.mode, c.policy, filepath.Join(c.dir, "state.db"), c.extra)
}

// start builds the pipeline; the first time it opens the store.
func (c *recipientCase) start() {
	c.t.Helper()
	if c.st == nil {
		c.p, c.st, c.logs = pipelineOf(c.t, c.dir, c.config())
		return
	}
	c.reload("")
}

// reload appends extra to the config and builds the pipeline again on the same store,
// as the daemon does at a reload (and `scan` with the config file edited).
func (c *recipientCase) reload(extra string) {
	c.t.Helper()
	c.extra += extra
	cfg := parseTestConfig(c.t, filepath.Join(c.dir, "abusewatch.toml"), c.config())
	p, err := NewPipeline(cfg, c.st, slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		c.t.Fatal(err)
	}
	c.p = p
}

// scan reads n failed root logins from addr at `at`, two seconds apart, then runs an
// outbox round an hour later, as `scan` does at its end.
func (c *recipientCase) scan(addr string, at time.Time, n int) {
	c.t.Helper()
	c.read(addr, at, n)
	c.round(at.Add(time.Hour))
}

// read reads n failed root logins from addr at `at`, two seconds apart.
func (c *recipientCase) read(addr string, at time.Time, n int) {
	c.t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s web1 sshd[%d]: Failed password for root from %s port %d ssh2\n",
			at.Add(time.Duration(2*i)*time.Second).Format("2006-01-02T15:04:05.000000-07:00"), 2000+i, addr, 40000+i)
	}
	log := filepath.Join(c.dir, fmt.Sprintf("auth-%s-%s.log", addr, at.Format("150405")))
	if err := os.WriteFile(log, []byte(b.String()), 0o600); err != nil {
		c.t.Fatal(err)
	}
	// Written when its last line was: a scan dates no line after the file's last write.
	last := at.Add(time.Duration(2*(n-1)) * time.Second)
	if err := os.Chtimes(log, last, last); err != nil {
		c.t.Fatal(err)
	}
	if err := c.p.ScanFiles(c.t.Context(), []string{log}, time.Time{}); err != nil {
		c.t.Fatal(err)
	}
}

// round runs an outbox round at now.
func (c *recipientCase) round(now time.Time) {
	c.t.Helper()
	if err := c.p.OutboxRound(c.t.Context(), now); err != nil {
		c.t.Fatal(err)
	}
}

// mailsTo are the mails in the maildir to addr.
func (c *recipientCase) mailsTo(addr string) []string {
	c.t.Helper()
	files, _ := filepath.Glob(filepath.Join(c.dir, "maildir", "new", "*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			c.t.Fatal(err)
		}
		if strings.Contains(headerOf(string(b)), "<"+addr+">") {
			out = append(out, string(b))
		}
	}
	return out
}

// headerOf is the header of a mail.
func headerOf(m string) string {
	h, _, _ := strings.Cut(m, "\r\n\r\n")
	return h
}

// report is the one report in state to addr, with its mail.
func (c *recipientCase) report(addr string, state abusewatch.ReportState) abusewatch.Report {
	c.t.Helper()
	var found []abusewatch.Report
	for _, r := range reportsIn(c.t, c.st, state) {
		if strings.Contains(strings.Join(r.Contact.Emails, ","), addr) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		c.t.Fatalf("%d reports %s to %s, want 1; all: %+v\n%s", len(found), state, addr, reportsIn(c.t, c.st), c.logs)
	}
	full, _, err := c.st.Report(found[0].ID)
	if err != nil {
		c.t.Fatal(err)
	}
	return full
}

var scanDay = time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)

// Case G: NIC.br's real answer for 177.0.0.0/14 names no one (its abuse entity has no
// e-mail), and with guesses on the report goes to abuse@ and security@ of the domain of
// the address's forward-confirmed reverse name, which whoever holds the address sets.
// Before, it went at once in auto mode, telling that domain's owner "I am writing to you
// as the listed contact for the network 177.0.0.0/14 (153304)". Now it waits for the
// admin, saying why, and the memo says it is a guess and from what.
func TestAGuessedContactWaitsForTheAdminAndIsToldItIsAGuess(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\n"+
		"vps9.freedns-shared.com. 60 IN A 177.0.0.9\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
	c.start()
	c.read("177.0.0.9", scanDay, 8)
	pv, err := PreviewReport(t.Context(), c.p.cfg, c.st, nil, netip.MustParseAddr("177.0.0.9"), scanDay.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	saysAll(t, "the preview's fate", pv.Fate, "are a guess", "wait for your approval")
	c.round(scanDay.Add(time.Hour))

	if m := c.mailsTo("abuse@freedns-shared.com"); len(m) != 0 {
		t.Fatalf("a report to a guessed contact went on its own in auto mode:\n%s", m[0])
	}
	rep := c.report("abuse@freedns-shared.com", abusewatch.ReportPendingApproval)
	saysAll(t, "the report's note", rep.Error, "are a guess", "vps9.freedns-shared.com", "approve")
	text := unwrap(mailText(t, rep.Message))
	saysAll(t, "the memo", text,
		"We could not find an abuse contact for the network 177.0.0.0/14 (153304) in its registry.",
		"because the reverse name of the address 177.0.0.9, vps9.freedns-shared.com, is in your domain freedns-shared.com.",
		"coming from the network 177.0.0.0/14.")
	for _, wrong := range []string{"listed", "your network"} {
		if strings.Contains(text, wrong) {
			t.Errorf("the memo to a guessed contact says %q:\n%s", wrong, text)
		}
	}

	// Approved, it goes.
	if _, err := ApproveReports(c.p.cfg, c.st, []string{rep.ID}, false, scanDay.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.round(scanDay.Add(2 * time.Hour))
	if m := c.mailsTo("abuse@freedns-shared.com"); len(m) != 1 {
		t.Errorf("%d mails to the guessed contact once approved, want 1\n%s", len(m), c.logs)
	}
}

// Case C: the registry names no one and guesses are off; the [[cert]] of the network's
// country is told, as the national CERT, not as "the listed contact for the network …
// coming from your network".
func TestTheNationalCERTIsToldItIsWrittenToAsTheCERT(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: "127.0.0.1:1", mode: "auto",
		extra: "[[cert]]\ncountry = \"BR\"\nemails = [\"cert@cert.br\"]\n"}
	c.start()
	c.scan("177.0.0.9", scanDay, 8)
	m := c.mailsTo("cert@cert.br")
	if len(m) != 1 {
		t.Fatalf("%d mails to the CERT, want 1\n%s", len(m), c.logs)
	}
	text := unwrap(mailText(t, []byte(m[0])))
	saysAll(t, "the memo", text,
		"I am writing to you as the national CERT of BR, for your information and coordination: we could not find an abuse contact for the network 177.0.0.0/14 (153304) in its registry.",
		"coming from the network 177.0.0.0/14.")
	for _, wrong := range []string{"listed", "your network"} {
		if strings.Contains(text, wrong) {
			t.Errorf("the memo to the CERT says %q:\n%s", wrong, text)
		}
	}
}

// unwrap joins text's lines with spaces, so a phrase is found wherever the template
// wraps it.
func unwrap(text string) string { return strings.Join(strings.Fields(text), " ") }

// Cases E2 and E4: a report written before the admin put its network on the
// do-not-contact list, or gave it a [[contact]] (correcting the registry's data), is not
// sent to the recipient it was written to: neither once approved in review mode, nor
// when its turn comes in auto mode after waiting for a limit. Before, the last gate
// re-checked only never_report, exclude and pardon, and the report went. A report
// rejected so says why; one to the recipient the [[contact]] names now replaces it (to
// be approved in review mode, as the admin approved the other recipient, not this one).
func TestAReportDoesNotGoToWhomTheConfigNoLongerNames(t *testing.T) {
	const (
		lir      = "abuse@lir.example"
		other    = "abuse@other.example"
		customer = "abuse@customer.example"
		right    = "abuse@right.example"
	)
	for _, change := range []string{"do_not_contact", "contact"} {
		for _, mode := range []string{"review", "auto"} {
			t.Run(change+" "+mode, func(t *testing.T) {
				r := lookuptest.NewRDAP(t)
				r.Answer("62.239.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.0.0/16"), "LIR-NET", "GB", lir))
				r.Answer("62.239.237.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.237.0/24"), "CUSTOMER-NET", "GB", customer))
				r.Answer("81.2.0.0/16", lookuptest.NetworkAnswer(netip.MustParsePrefix("81.2.0.0/16"), "OTHER-NET", "GB", other))
				c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: "127.0.0.1:1", mode: mode}
				if mode == "auto" {
					// The customer's report waits in the queue for the daily cap, which
					// another party's report reached.
					c.policy = "daily_cap = 1"
				}
				c.start()
				if mode == "auto" {
					c.scan("81.2.69.5", scanDay, 8)
					if len(c.mailsTo(other)) != 1 {
						t.Fatalf("the other party's report did not go\n%s", c.logs)
					}
				}
				c.scan("62.239.237.9", scanDay.Add(time.Hour), 8)
				written := reportsIn(t, c.st, abusewatch.ReportPendingApproval, abusewatch.ReportQueued)
				if len(written) != 1 || written[0].Contact.Emails[0] != customer {
					t.Fatalf("reports waiting: %+v; want one to %s\n%s", written, customer, c.logs)
				}

				switch change {
				case "do_not_contact":
					c.reload("[[do_not_contact]]\nnetwork = \"62.239.237.0/24\"\nreason = \"legal\"\n")
				default:
					c.reload("[[contact]]\nnetwork = \"62.239.237.0/24\"\nemails = [\"" + right + "\"]\n")
				}
				if mode == "review" {
					// The admin approves what waits, from the offline command.
					if _, err := ApproveReports(c.p.cfg, c.st, nil, true, scanDay.Add(3*time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				c.round(scanDay.Add(3 * time.Hour))
				if m := c.mailsTo(customer); len(m) != 0 {
					t.Fatalf("the report went to %s after the config changed:\n%s", customer, m[0])
				}
				old, _, err := c.st.Report(written[0].ID)
				if err != nil || old.State != abusewatch.ReportRejected {
					t.Fatalf("the report to %s is %s (%v), want rejected\n%s", customer, old.State, err, c.logs)
				}
				if change == "do_not_contact" {
					saysAll(t, "the rejected report's reason", old.Error, "62.239.237.9", "62.239.237.0/24 is on the do-not-contact list (legal)")
					if rs := reportsIn(t, c.st, abusewatch.ReportPendingApproval, abusewatch.ReportQueued, abusewatch.ReportSent); len(rs) != map[string]int{"review": 0, "auto": 1}[mode] {
						t.Errorf("reports left: %+v; want only the other party's", rs)
					}
					return
				}
				state := map[string]abusewatch.ReportState{"review": abusewatch.ReportPendingApproval, "auto": abusewatch.ReportQueued}[mode]
				now := c.report(right, state)
				saysAll(t, "the rejected report's reason", old.Error, "the [[contact]] table names "+right+" for 62.239.237.0/24 now", now.ID)
				if len(now.Incidents) != 1 || now.Incidents[0] != old.Incidents[0] {
					t.Errorf("the report to %s covers %v, want %v", right, now.Incidents, old.Incidents)
				}
				saysAll(t, "the memo to "+right, unwrap(mailText(t, now.Message)),
					"I am writing to you as the contact we have on record for the network 62.239.237.0/24.", "62.239.237.9")
				if id, _, _ := c.st.ReportFor(old.Incidents[0]); id != now.ID {
					t.Errorf("the incident is reported by %s, want %s", id, now.ID)
				}
				if mode == "review" {
					saysAll(t, "the new report's note", now.Error, "written instead of report "+old.ID[:12]+" to "+customer)
					if _, err := ApproveReports(c.p.cfg, c.st, []string{now.ID}, false, scanDay.Add(4*time.Hour)); err != nil {
						t.Fatal(err)
					}
					c.round(scanDay.Add(4 * time.Hour))
					if m := c.mailsTo(right); len(m) != 1 {
						t.Errorf("%d mails to %s once approved, want 1\n%s", len(m), right, c.logs)
					}
				}
			})
		}
	}
}

// Case F2: the provider's /16 refers to the customer's /24, which names no one, so the
// /16's desk answers for it; the memo says so, and names the /16 as the network whose
// contact it is. Before, it told abuse@lir.example it was "the listed contact for the
// network 62.239.237.0/24 (CUSTOMER-NOCONTACT)".
func TestTheCoveringNetworksContactIsToldItIsWrittenToAsSuch(t *testing.T) {
	const lir = "abuse@lir.example"
	customer := lookuptest.NewRDAP(t)
	customer.Answer("62.239.237.0/24", []byte(`{"objectClassName":"ip network","handle":"CUSTOMER-NOCONTACT","name":"CUSTOMER-NOCONTACT",`+
		`"startAddress":"62.239.237.0","endAddress":"62.239.237.255","ipVersion":"v4","country":"GB"}`))
	registry := lookuptest.NewRDAP(t)
	registry.Answer("62.239.0.0/16", lookuptest.WithRelatedLink(t,
		lookuptest.NetworkAnswer(netip.MustParsePrefix("62.239.0.0/16"), "LIR-NET", "GB", lir), customer.URL+"/ip/62.239.237.0/24"))
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: registry.URL, dns: "127.0.0.1:1", mode: "auto"}
	c.start()
	c.scan("62.239.237.9", scanDay, 8)
	m := c.mailsTo(lir)
	if len(m) != 1 || customer.Requests.Load() == 0 {
		t.Fatalf("%d mails to %s (the customer's server asked %d times), want 1 after the referral\n%s", len(m), lir, customer.Requests.Load(), c.logs)
	}
	text := unwrap(mailText(t, []byte(m[0])))
	saysAll(t, "the memo", text,
		"The registry lists no contact for the network 62.239.237.0/24 (CUSTOMER-NOCONTACT).",
		"I am writing to you as the contact listed for the network 62.239.0.0/16 (LIR-NET), which holds it.")
	if strings.Contains(text, "contact listed for the network 62.239.237.0/24") {
		t.Errorf("the memo calls the /16's desk the /24's contact:\n%s", text)
	}
}

// A network incident's report written before part of the network went on the
// do-not-contact list is written again without those addresses (its share, looked up
// again), before it is approved and when it goes; the whole network on the list, it is
// not sent at all.
func TestANetworkIncidentsReportLeavesOutWhatWentOnTheDoNotContactList(t *testing.T) {
	const desk = "abuse@net.example"
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.3", "5.6.7.9", "5.6.7.10"}
	for _, listed := range []string{"5.6.7.8/29", "5.6.7.0/24"} {
		t.Run(listed, func(t *testing.T) {
			r := lookuptest.NewRDAP(t)
			r.Answer("5.6.7.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/24"), "NET", "DE", desk))
			c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: "127.0.0.1:1", mode: "review"}
			c.start()
			splitAttack(t, c.st, "5.6.7.0/24", addrs)
			c.round(t0.Add(time.Hour))
			written := c.report(desk, abusewatch.ReportPendingApproval)
			namesOnly(t, "the report as written", mailText(t, written.Message), addrs, addrs)

			c.reload("[[do_not_contact]]\nnetwork = \"" + listed + "\"\nreason = \"a partner\"\n")
			c.round(t0.Add(2 * time.Hour))
			if listed == "5.6.7.0/24" {
				old, _, _ := c.st.Report(written.ID)
				if old.State != abusewatch.ReportRejected || !strings.Contains(old.Error, "none of its addresses is "+desk+"'s now") {
					t.Errorf("the report is %s (%q), want rejected saying why\n%s", old.State, old.Error, c.logs)
				}
				return
			}
			now := c.report(desk, abusewatch.ReportPendingApproval)
			if now.ID != written.ID {
				t.Errorf("the report is %s now, want %s written again", now.ID, written.ID)
			}
			namesOnly(t, "the report before approval", mailText(t, now.Message), addrs, addrs[:3])
			if _, err := ApproveReports(c.p.cfg, c.st, nil, true, t0.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			c.round(t0.Add(3 * time.Hour))
			m := c.mailsTo(desk)
			if len(m) != 1 {
				t.Fatalf("%d mails to %s, want 1\n%s", len(m), desk, c.logs)
			}
			namesOnly(t, "the mail", mailText(t, []byte(m[0])), addrs, addrs[:3])
		})
	}
}

// A party's share of a network incident that goes to a guessed contact waits for the
// admin in auto mode, the other parties' shares go.
func TestAGuessedPartysShareWaitsTheOthersGo(t *testing.T) {
	const desk, guessed = "abuse@cust-a.example", "abuse@guessed.example"
	r := lookuptest.NewRDAP(t)
	r.Answer("5.6.7.0/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.0/29"), "CUST-A", "DE", desk))
	r.Answer("5.6.7.8/29", lookuptest.NetworkAnswer(netip.MustParsePrefix("5.6.7.8/29"), "CUST-B", "DE", ""))
	dns, _ := lookuptest.ServeZone(t, "9.7.6.5.in-addr.arpa. 60 IN PTR h9.guessed.example.\nh9.guessed.example. 60 IN A 5.6.7.9\n"+
		"10.7.6.5.in-addr.arpa. 60 IN PTR h10.guessed.example.\nh10.guessed.example. 60 IN A 5.6.7.10\n")
	c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
	c.start()
	addrs := []string{"5.6.7.1", "5.6.7.2", "5.6.7.9", "5.6.7.10"}
	splitAttack(t, c.st, "5.6.7.0/24", addrs)
	c.round(t0.Add(time.Hour))
	if m := c.mailsTo(desk); len(m) != 1 {
		t.Errorf("%d mails to %s, want its share\n%s", len(m), desk, c.logs)
	}
	if m := c.mailsTo(guessed); len(m) != 0 {
		t.Errorf("the guessed party's share went on its own:\n%s", m[0])
	}
	held := c.report(guessed, abusewatch.ReportPendingApproval)
	saysAll(t, "the held share's note", held.Error, "are a guess")
	namesOnly(t, "the held share", mailText(t, held.Message), addrs, addrs[2:])
}
