package daemon

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
	"github.com/abusewatch/abusewatch/store"
)

// namedAttack stores an incident of six failed logins from addr for our customer
// carol on our host db7.corp.internal, from first on: what [mail] redact masks.
func namedAttack(t *testing.T, st *store.Store, addr string, first time.Time) abusewatch.Incident {
	t.Helper()
	a := netip.MustParseAddr(addr)
	inc := abusewatch.Incident{
		ID: "inc-" + addr, Key: "ip:" + addr, Rule: "per-address", Addr: a, Network: netip.PrefixFrom(a, 32),
		Classes: []abusewatch.Class{abusewatch.ClassAuthFailure}, First: first, Last: first.Add(15 * time.Second),
		Count: 6, Attempts: 6, Hosts: []string{"db7.corp.internal"}, Severity: 3,
	}
	for i := range 6 {
		at := first.Add(time.Duration(3*i) * time.Second)
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure, Addr: a, Port: uint16(40000 + i),
			Host: "db7.corp.internal", Service: "sshd", User: "carol",
			Line: fmt.Sprintf("%s db7.corp.internal sshd[100%d]: Failed password for carol from %s port %d ssh2", at.Format(time.RFC3339), i, addr, 40000+i)})
	}
	if err := st.PutIncidents([]abusewatch.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	return inc
}

// restarted is p's store under p's config with [mail] redact set to redact: the admin
// edited it and restarted the daemon.
func restarted(t *testing.T, p *Pipeline, st *store.Store, logs *logBuffer, redact ...string) *Pipeline {
	t.Helper()
	cfg := *p.cfg
	cfg.Mail.Redact = redact
	np, err := NewPipeline(&cfg, st, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return np
}

// storedReport is report id as stored, with its mail.
func storedReport(t *testing.T, st *store.Store, id string) abusewatch.Report {
	t.Helper()
	r, ok, err := st.Report(id)
	if err != nil || !ok {
		t.Fatalf("report %s: %v, %v", id, ok, err)
	}
	return r
}

// unmasked says what of carol's name and our host's a mail says.
func unmasked(text string) []string {
	var out []string
	for _, s := range []string{"carol", "db7.corp.internal"} {
		if strings.Contains(text, s) {
			out = append(out, s)
		}
	}
	return out
}

// An admin reads a report waiting for approval, sees his customer's name and his
// host's, sets [mail] redact = ["users", "hosts"] and restarts: the report waiting is
// written again with them masked at the daemon's next round (same ID and Message-ID,
// still waiting for him), and what the SMTP server receives once he approves it is
// masked. In auto mode, a report queued for a retry when the setting changed leaves
// masked at its retry, written again by the last gate at delivery itself; a report
// that went before the change is never touched. Before, a report kept the text it was
// written with and left unmasked.
func TestAReportNotSentYetLeavesWithRedactAsSetNow(t *testing.T) {
	t.Run("review", func(t *testing.T) {
		srv := mailtest.Start(t, mailtest.Options{})
		p, st, logs := outboxPipeline(t, srv.Addr, "review", parties[:1], "")
		namedAttack(t, st, "45.134.26.7", t0)
		if err := p.Tick(t.Context(), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		pending := reportsIn(t, st, abusewatch.ReportPendingApproval)
		if len(pending) != 1 {
			t.Fatalf("%d reports pending, want 1", len(pending))
		}
		was := storedReport(t, st, pending[0].ID)
		if got := unmasked(mailText(t, was.Message)); len(got) != 2 || was.Redacted != nil {
			t.Fatalf("written without redact, it says %v (redacted %v); want carol and db7.corp.internal as logged", got, was.Redacted)
		}

		p = restarted(t, p, st, logs, "users", "hosts")
		if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		srv.Nothing(t)
		now := storedReport(t, st, was.ID)
		text := mailText(t, now.Message)
		if now.State != abusewatch.ReportPendingApproval || !slices.Equal(now.Redacted, []string{"hosts", "users"}) || messageID(t, now.Message) != was.MessageID {
			t.Errorf("after the restart: %s, redacted %v, Message-ID %s; want it waiting, masked, as %s", now.State, now.Redacted, messageID(t, now.Message), was.MessageID)
		}
		if got := unmasked(text); len(got) > 0 || !strings.Contains(text, "Failed password for <user> from 45.134.26.7 port 40000") {
			t.Errorf("what the admin reads before approving says %v:\n%s", got, text)
		}
		if !strings.Contains(logs.String(), "written again with [mail] redact as set now") {
			t.Error("no log line says the report was written again")
		}

		if _, err := ApproveReports(p.cfg, st, []string{was.ID}, false, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := p.Tick(t.Context(), t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		m := srv.Next(t)
		text = mailText(t, m.Data)
		if got := unmasked(text); len(got) > 0 || !strings.Contains(text, "<user>") || messageID(t, m.Data) != was.MessageID {
			t.Errorf("the mail that left says %v (Message-ID %s):\n%s", got, messageID(t, m.Data), text)
		}
		srv.Nothing(t)
	})

	t.Run("auto", func(t *testing.T) {
		var refuse atomic.Bool
		refuse.Store(true)
		srv := mailtest.Start(t, mailtest.Options{RcptErr: func(to string) error {
			if refuse.Load() && strings.Contains(to, "hostco") {
				return mailtest.Reply(451, "try again later")
			}
			return nil
		}})
		p, st, logs := outboxPipeline(t, srv.Addr, "auto", parties[:2], "")
		namedAttack(t, st, "45.134.26.7", t0)   // hostco: refused for now, queued for a retry
		namedAttack(t, st, "185.220.100.7", t0) // relay-net: sent before the change
		if err := p.Tick(t.Context(), t0.Add(time.Hour)); err == nil {
			t.Fatal("the 451 counted as delivered")
		}
		first := srv.Next(t)
		if got := unmasked(mailText(t, first.Data)); len(got) != 2 {
			t.Fatalf("the report sent before the change says %v; want the lines as logged", got)
		}
		sent, queued := reportsIn(t, st, abusewatch.ReportSent), reportsIn(t, st, abusewatch.ReportQueued)
		if len(sent) != 1 || len(queued) != 1 || queued[0].NextAttempt.IsZero() {
			t.Fatalf("sent %d, queued %+v; want one each, the queued one for a retry", len(sent), queued)
		}
		sentBefore := storedReport(t, st, sent[0].ID)

		p = restarted(t, p, st, logs, "users", "hosts")
		refuse.Store(false)
		// The last gate at delivery, not the round's recheck: DeliverAt alone.
		if err := p.DeliverAt(t.Context(), queued[0].NextAttempt); err != nil {
			t.Fatal(err)
		}
		m := srv.Next(t)
		text := mailText(t, m.Data)
		if got := unmasked(text); len(got) > 0 || !strings.Contains(text, "<user>") || messageID(t, m.Data) != queued[0].MessageID {
			t.Errorf("the retry after the change says %v (Message-ID %s, want %s):\n%s", got, messageID(t, m.Data), queued[0].MessageID, text)
		}
		if err := p.Tick(t.Context(), queued[0].NextAttempt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		srv.Nothing(t)
		after := storedReport(t, st, sentBefore.ID)
		if after.State != abusewatch.ReportSent || !bytes.Equal(after.Message, sentBefore.Message) || after.Redacted != nil || !after.Updated.Equal(sentBefore.Updated) {
			t.Errorf("the report sent before the change was touched: %s, redacted %v, updated %v (was %v), mail changed %v",
				after.State, after.Redacted, after.Updated, sentBefore.Updated, !bytes.Equal(after.Message, sentBefore.Message))
		}
		if t.Failed() {
			t.Log(logs)
		}
	})
}

// A report stored by a version before reports recorded their [mail] redact counts as
// written without: with the config masking nothing it goes as it is, untouched; with
// the config masking, it is written again before it goes, and one that an older
// version masked already keeps its mail as it was (byte for byte, its Date too) and
// has the setting recorded.
func TestAReportStoredBeforeRedactWasRecordedCountsAsWrittenWithout(t *testing.T) {
	srv := mailtest.Start(t, mailtest.Options{})
	for _, redact := range [][]string{nil, {"users", "hosts"}} {
		t.Run(RedactWords(redact), func(t *testing.T) {
			p, st, logs := outboxPipeline(t, srv.Addr, "review", parties[:1], "")
			p = restarted(t, p, st, logs, redact...)
			namedAttack(t, st, "45.134.26.7", t0)
			if err := p.Report(t.Context(), t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			pending := reportsIn(t, st, abusewatch.ReportPendingApproval)
			if len(pending) != 1 {
				t.Fatalf("%d reports pending, want 1", len(pending))
			}
			// As an older version stored it: no setting recorded.
			if err := st.UpdateReport(pending[0].ID, func(r *abusewatch.Report) error {
				r.Redacted = nil
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			was := storedReport(t, st, pending[0].ID)
			if err := p.Tick(t.Context(), t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			now := storedReport(t, st, was.ID)
			if !bytes.Equal(now.Message, was.Message) {
				t.Errorf("its mail was written again:\n%s\nwas:\n%s", now.Message, was.Message)
			}
			rewritten := strings.Contains(logs.String(), "written again with [mail] redact")
			if redact == nil {
				if rewritten || now.Redacted != nil || !now.Updated.Equal(was.Updated) {
					t.Errorf("without redact it was written again (log %v, redacted %v, updated %v)", rewritten, now.Redacted, now.Updated)
				}
				return
			}
			if !rewritten || !slices.Equal(now.Redacted, []string{"hosts", "users"}) || !strings.Contains(logs.String(), "changed=false") {
				t.Errorf("with redact: redacted %v, logged %v; want it checked against its incidents and the setting recorded\n%s", now.Redacted, rewritten, logs)
			}
			if got := unmasked(mailText(t, now.Message)); len(got) > 0 {
				t.Errorf("it says %v", got)
			}
			// Recorded: the next round leaves it be.
			n := strings.Count(logs.String(), "written again with [mail] redact")
			if err := p.Tick(t.Context(), t0.Add(3*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if strings.Count(logs.String(), "written again with [mail] redact") != n {
				t.Error("written again at every round")
			}
			srv.Nothing(t)
		})
	}
}
