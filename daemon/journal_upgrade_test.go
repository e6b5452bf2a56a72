package daemon

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
	"github.com/abusewatch/abusewatch/store"
)

// waitLogged waits until r has logged msg, or fails the test at the deadline.
func (r *journalReader) waitLogged(t *testing.T, msg string) {
	t.Helper()
	r.waitLog(t, msg, func(log string) bool { return strings.Contains(log, msg) })
}

// drained is what r sent and has not been taken, once it logged msg (everything it
// sends before that is in r.out: the channel holds more than these tests send).
func (r *journalReader) drained(t *testing.T, msg string) []string {
	t.Helper()
	r.waitLogged(t, msg)
	var msgs []string
	for {
		select {
		case l := <-r.out:
			if !l.posOnly {
				_, m, _ := strings.Cut(l.rec.Line, ": ")
				msgs = append(msgs, m)
			}
		default:
			return msgs
		}
	}
}

const journalDirectoryRead = "journal: read the directory's journals to their end"

// After an upgrade from the version that committed one merged cursor for the directory,
// every journal present gets its own position from that cursor at the first start, so a
// host that logs nothing after the upgrade is not read again from its beginning at the
// second start, once another host's position is committed (review 25 #1).
func TestJournalDirectoryUpgradeGivesQuietHostsAPosition(t *testing.T) {
	journaltest.Need(t)
	f := fleet{t, t.TempDir()}
	f.write(0, 10)
	out, err := exec.Command("journalctl", "--directory="+f.dir, "--merge", "--output=json", "--no-pager").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	at, err := journalRecord(lines[len(lines)-1], time.Now(), journalTrust{})
	if err != nil {
		t.Fatal(err)
	}
	st := tempStore(t)
	if _, err := st.Commit(nil, []store.Position{at.pos, at.rest}); err != nil { // as the older version did, having read all
		t.Fatal(err)
	}
	r := startJournal(t, f.dir, st)
	if got := r.drained(t, journalDirectoryRead); len(got) > 0 {
		t.Fatalf("the first start after the upgrade read again %q", got)
	}
	// web1 alone logs; web2 and web3 are quiet.
	var entries [][]byte
	var want []string
	for k := 10; k < 13; k++ {
		msg := "Failed password for invalid user web1-again-" + string(rune('a'+k)) + " from 3.3.3.3 port 22 ssh2"
		entries = append(entries, sshEntry("web1", "0123456789abcdef0123456789abcdef", k, msg))
		want = append(want, msg)
	}
	journaltest.Write(t, f.dir+"/web1.journal", entries...)
	if got := r.take(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("read %q\nwant %q", got, want)
	}
	r.stop()

	r = startJournal(t, f.dir, st)
	if got := r.drained(t, journalDirectoryRead); len(got) > 0 {
		t.Errorf("the second start after the upgrade read %d entries again, e.g. %q", len(got), got[:min(3, len(got))])
	}
	if log := r.log(); strings.Contains(log, `from="its beginning"`) {
		t.Errorf("a journal was read from its beginning:\n%s", log)
	}
}
