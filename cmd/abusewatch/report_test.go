package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

func TestReportShowPrintsTheMemo(t *testing.T) {
	dir, config := demoConfig(t, "review")
	id := outboxJSON(t, dir, config)[0].ID
	stdout, stderr, code := runBinary(t, dir, "report", "show", "--config", config, id[:8])
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Report " + id + ": pending-approval", "Hello,", "source addresses can be forged", "[attached: xarf-1.json, application/json]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report show lacks %q:\n%s", want, stdout)
		}
	}
	raw, _, _ := runBinary(t, dir, "report", "show", "--raw", "--config", config, id)
	if !strings.Contains(raw, "Message-Id: <"+id+"@example.org>") {
		t.Errorf("--raw is not the message:\n%.500s", raw)
	}
	js, _, _ := runBinary(t, dir, "report", "show", "--json", "--config", config, id)
	var doc map[string]any
	if err := json.Unmarshal([]byte(js), &doc); err != nil || doc["id"] != id || !strings.Contains(doc["message"].(string), "Hello,") {
		t.Errorf("--json: %v\n%.500s", err, js)
	}
	// --raw with --json printed the raw message and dropped --json without a word.
	for _, action := range [][]string{{"show", id}, {"preview", "45.134.26.17"}} {
		args := append([]string{"report"}, action...)
		stdout, stderr, code := runBinary(t, dir, append(args, "--raw", "--json", "--config", config)...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "give --raw (the message as it is sent) or --json") {
			t.Errorf("report %s --raw --json: exit %d, want 2\n%s%s", action[0], code, stdout, stderr)
		}
	}
	if _, stderr, code := runBinary(t, dir, "report", "show", "--config", config, "ffffffffff"); code != 1 || !strings.Contains(stderr, "no report") {
		t.Errorf("unknown ID: exit %d, %s", code, stderr)
	}
}

func TestReportApproveQueuesAndTheNextRoundDelivers(t *testing.T) {
	dir, config := demoConfig(t, "review")
	entries := outboxJSON(t, dir, config)
	stdout, stderr, code := runBinary(t, dir, "report", "approve", "--config", config, entries[0].ID, entries[1].ID[:10])
	if code != 0 || strings.Count(stdout, "approved ") != 2 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	// The next round (here a scan with nothing new) delivers the approved ones only.
	if _, stderr, code := runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: %s", stderr)
	}
	sent := outboxJSON(t, dir, config, "--state", "sent")
	if len(sent) != 2 {
		t.Fatalf("%d sent, want the 2 approved", len(sent))
	}
	files, _ := reportMails(filepath.Join(dir, "maildir"))
	if len(files) != 2 {
		t.Errorf("%d mails in the maildir, want 2", len(files))
	}
	// A report every recipient took cannot be approved again.
	if _, stderr, code := runBinary(t, dir, "report", "approve", "--config", config, sent[0].ID); code != 1 || !strings.Contains(stderr, "was sent to every recipient") {
		t.Errorf("approving a sent report: exit %d, %s", code, stderr)
	}
	if stdout, _, code := runBinary(t, dir, "report", "approve", "--all", "--config", config); code != 0 || strings.Count(stdout, "approved ") != 2 {
		t.Errorf("--all: exit %d\n%s", code, stdout)
	}
	// Approved again (a cron job, an ansible task), a queued report is what was asked
	// for: exit 0, and it says so. With --json, the answer is JSON.
	queued := outboxJSON(t, dir, config, "--state", "queued")
	if len(queued) != 2 {
		t.Fatalf("%d queued, want 2", len(queued))
	}
	stdout, stderr, code = runBinary(t, dir, "report", "approve", "--config", config, queued[0].ID)
	if code != 0 || !strings.Contains(stdout, queued[0].ID+" is queued already: nothing to do") {
		t.Errorf("approving a queued report again: exit %d\n%s%s", code, stdout, stderr)
	}
	var answer map[string][]string
	stdout, stderr, code = runBinary(t, dir, "report", "approve", "--json", "--config", config, queued[0].ID[:8])
	if err := json.Unmarshal([]byte(stdout), &answer); code != 0 || err != nil || answer["approved"] == nil ||
		len(answer["approved"]) != 0 || len(answer["already_queued"]) != 1 || answer["already_queued"][0] != queued[0].ID {
		t.Errorf("approve --json of a queued report: exit %d, %v\n%s%s", code, err, stdout, stderr)
	}
	for _, want := range [][2]int{{1, 0}, {0, 1}} { // rejected, then rejected already
		stdout, stderr, code = runBinary(t, dir, "report", "reject", "--json", "--config", config, queued[1].ID)
		if err := json.Unmarshal([]byte(stdout), &answer); code != 0 || err != nil || len(answer["rejected"]) != want[0] || len(answer["already_rejected"]) != want[1] {
			t.Errorf("reject --json: exit %d, %v\n%s%s", code, err, stdout, stderr)
		}
	}
}

func TestReportRejectIsNeverSent(t *testing.T) {
	dir, config := demoConfig(t, "review")
	id := outboxJSON(t, dir, config)[0].ID
	if stdout, stderr, code := runBinary(t, dir, "report", "reject", "--config", config, id); code != 0 || !strings.Contains(stdout, "rejected "+id) {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	runBinary(t, dir, "report", "approve", "--all", "--config", config)
	runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log"))
	for _, e := range outboxJSON(t, dir, config) {
		if e.ID == id && e.State != "rejected" {
			t.Errorf("the rejected report is %s", e.State)
		}
	}
}

func TestReportPreviewShowsWhatWouldBeSent(t *testing.T) {
	dir, config := demoConfig(t, "review")
	stdout, stderr, code := runBinary(t, dir, "report", "preview", "--config", config, "45.134.26.17")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"To:       abuse@hostco.example", "Source address:  45.134.26.17",
		"\nNothing new would be written: every incident from 45.134.26.17 has a report already (the newest is in report "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("preview lacks %q:\n%s", want, stdout)
		}
	}
	// Nothing new is written: no fate of it is told.
	if strings.Contains(stdout, "would wait") || strings.Contains(stdout, "This report") {
		t.Errorf("preview tells the fate of a report that would not be written:\n%s", stdout)
	}
	// Its JSON has no placeholders of a report not written: no state, no times.
	js, stderr, code := runBinary(t, dir, "report", "preview", "--json", "--config", config, "45.134.26.17")
	var doc map[string]any
	if err := json.Unmarshal([]byte(js), &doc); code != 0 || err != nil || doc["fate"] == nil || doc["message"] == nil || doc["message_id"] == nil {
		t.Errorf("preview --json: exit %d, %v\n%.500s%s", code, err, js, stderr)
	}
	for _, k := range []string{"state", "updated", "created", "attempts"} {
		if _, ok := doc[k]; ok {
			t.Errorf("preview --json has %q: %v", k, doc[k])
		}
	}
	if _, stderr, code := runBinary(t, dir, "report", "preview", "--config", config, "81.2.69.160"); code != 1 || !strings.Contains(stderr, "possible compromise") {
		t.Errorf("preview of a compromise: exit %d, %s", code, stderr)
	}
	// Private space: why it is never reported, as ip says, not "no incident".
	if _, stderr, code := runBinary(t, dir, "report", "preview", "--config", config, "10.20.0.77"); code != 1 ||
		!strings.Contains(stderr, "10.20.0.77 is never reported: 10.0.0.0/8 is special-purpose") {
		t.Errorf("preview of a private address: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runBinary(t, dir, "report", "preview", "--config", config, "not-an-ip"); code != 2 || !strings.Contains(stderr, "attacking address") {
		t.Errorf("bad address: exit %d, %s", code, stderr)
	}
}

func TestReportApproveInObserveModeIsRefused(t *testing.T) {
	dir, config := demoConfig(t, "observe")
	if _, stderr, code := runBinary(t, dir, "report", "approve", "--all", "--config", config); code != 1 || !strings.Contains(stderr, "observe") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// Once retention deleted a rejected report's mail, show says so instead of an empty memo.
func TestReportShowSaysWhenTheMailIsNoLongerKept(t *testing.T) {
	dir, config := demoConfig(t, "review")
	id := outboxJSON(t, dir, config)[0].ID
	if _, stderr, code := runBinary(t, dir, "report", "reject", "--config", config, id); code != 0 {
		t.Fatalf("reject: exit %d: %s", code, stderr)
	}
	cfg, err := daemon.LoadConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Store.Path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneReportMessages(t.Context(), time.Now().Add(time.Hour), 0)
	st.Close()
	if err != nil || n != 1 {
		t.Fatalf("PruneReportMessages = %d, %v; want 1", n, err)
	}
	stdout, stderr, code := runBinary(t, dir, "report", "show", "--config", config, id)
	if code != 0 || !strings.Contains(stdout, "Report "+id+": rejected") || !strings.Contains(stdout, "no longer kept") {
		t.Errorf("show: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := runBinary(t, dir, "report", "show", "--raw", "--config", config, id); code != 1 || !strings.Contains(stderr, "no longer kept") {
		t.Errorf("show --raw: exit %d\n%s", code, stderr)
	}
}

// approve and reject with one wrong ID among several change nothing and say which one
// is wrong: approve queued those before it and said only `no report "ID2"`.
func TestReportApproveWithAWrongIDChangesNothing(t *testing.T) {
	dir, config := demoConfig(t, "review")
	entries := outboxJSON(t, dir, config)
	for _, action := range []string{"approve", "reject"} {
		stdout, stderr, code := runBinary(t, dir, "report", action, "--config", config, entries[0].ID, "ffffffffff", entries[1].ID[:8])
		if code != 1 || strings.Contains(stdout, entries[0].ID) || !strings.Contains(stderr, `no report "ffffffffff"`) ||
			!strings.Contains(stderr, "No report was changed") {
			t.Errorf("%s with a wrong ID: exit %d\n%s%s", action, code, stdout, stderr)
		}
		for _, e := range outboxJSON(t, dir, config) {
			if e.State != "pending-approval" {
				t.Errorf("after %s with a wrong ID, report %s is %s", action, e.ID, e.State)
			}
		}
	}
	stdout, _, code := runBinary(t, dir, "report", "approve", "--config", config, entries[0].ID)
	if code != 0 || !strings.Contains(stdout, "1 report queued: the daemon sends it at its next round") {
		t.Errorf("approve of one report: exit %d\n%s", code, stdout)
	}
}

// An ID shorter than 6 characters is said to be too short, not missing.
func TestReportShowOfAShortIDSaysItIsShort(t *testing.T) {
	dir, config := demoConfig(t, "review")
	id := outboxJSON(t, dir, config)[0].ID
	for _, action := range []string{"show", "approve", "reject"} {
		_, stderr, code := runBinary(t, dir, "report", action, "--config", config, id[:5])
		if code != 2 || !strings.Contains(stderr, "an ID needs at least 6 characters") {
			t.Errorf("report %s %s: exit %d\n%s", action, id[:5], code, stderr)
		}
	}
}

// approve said "4 reports queued: the daemon sends them at its next round" whatever
// held them: here policy.daily_cap lets 2 go, and the other 2 waited a day. It says
// which go and which wait, until when and why, and the round does what it said.
func TestReportApproveSaysWhichTheNextRoundSendsAndWhichWait(t *testing.T) {
	dir, config := demoConfigFile(t, "review")
	doc, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(strings.Replace(string(doc), "mode = \"review\"", "mode = \"review\"\ndaily_cap = 2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: exit %d\n%s", code, stderr)
	}
	if n := len(outboxJSON(t, dir, config, "--state", "pending-approval")); n != 4 {
		t.Fatalf("%d reports wait for approval, want the demo's 4", n)
	}
	stdout, stderr, code := runBinary(t, dir, "report", "approve", "--all", "--config", config)
	if code != 0 || !strings.Contains(stdout, "2 reports queued: the daemon sends them at its next round") {
		t.Fatalf("approve --all: exit %d, want it to say 2 go at the next round\n%s%s", code, stdout, stderr)
	}
	var waits []string
	for line := range strings.Lines(stdout) {
		if id, rest, ok := strings.Cut(line, " waits until "); ok {
			waits = append(waits, id)
			if !strings.Contains(rest, "at the earliest (cap: 2 reports in the last 24 hours (policy.daily_cap), counting the reports that go before it at the next round)") {
				t.Errorf("approve says why %s waits: %s", id, rest)
			}
		}
	}
	if _, stderr, code := runBinary(t, dir, "scan", "--config", config, repoPath(t, "configs/demo/auth.log")); code != 0 {
		t.Fatalf("scan: %s", stderr)
	}
	if sent := outboxJSON(t, dir, config, "--state", "sent"); len(sent) != 2 {
		t.Errorf("%d sent, want the 2 approve said the next round sends", len(sent))
	}
	var queued []string
	for _, e := range outboxJSON(t, dir, config, "--state", "queued") {
		queued = append(queued, e.ID)
	}
	slices.Sort(queued)
	slices.Sort(waits)
	if !slices.Equal(queued, waits) {
		t.Errorf("queued after the round: %v; approve said these wait: %v\n%s", queued, waits, stdout)
	}
}
