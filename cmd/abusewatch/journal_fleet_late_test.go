package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// fleetJournals is a systemd-journal-remote directory of three hosts, each with its own
// boot ID (as real hosts have) and journal file; web2's clock is an hour behind.
type fleetJournals struct {
	t       *testing.T
	dir     string
	user, k int // the next user number, and seconds into the boots
}

var fleetHosts = []struct {
	name, boot string
	off        time.Duration
}{{"web3", "fedcba9876543210fedcba9876543210", 0}, {"web1", bootWeb, time.Millisecond}, {"web2", "11111111111111111111111111111111", -time.Hour}}

// write appends per entries to each host's journal in turn, as systemd-journal-upload
// delivers them: the later hosts' entries are dated before the first one's newest.
func (f *fleetJournals) write(per int) {
	for _, h := range fleetHosts {
		var entries [][]byte
		for i := range per {
			entries = append(entries, sshEntry(h.name, h.boot, f.k+i, h.off, f.user, ""))
			f.user++
		}
		journaltest.Write(f.t, filepath.Join(f.dir, "remote-"+h.name+".journal"), entries...)
	}
	f.k += per
}

// A host's entries that arrive after entries of another host dated later (its network
// is slower, its clock behind, systemd-journal-upload catches up after an outage) are
// read while the daemon runs, and those written while it is stopped at the next start:
// every entry exactly once. A merged journalctl --follow showed only the last entry of
// each such batch, and its one saved cursor skipped the rest at the next start too.
func TestJournalFleetEntriesDeliveredLateAreRead(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	f := &fleetJournals{t: t, dir: filepath.Join(dir, "journal")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(100)
	cfg := journalConfig(t, dir, f.dir)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 300)
	f.write(100) // while it runs
	d.waitEvents(t, 600)
	d.stop(t)

	f.write(100) // while it is stopped
	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 300)
	f.write(100) // and while it runs again
	d.waitEvents(t, 600)
	d.stop(t)
	checkExactlyOnce(t, dir, f.user)
}
