package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// The upgrade from the version that kept one merged cursor for a journal-remote
// directory (22c5d27), with both real binaries: the older one reads three hosts, this one
// starts, one host logs and is read, and at the next start no host is read again (review
// 25 #1). It needs the older binary in ABUSEWATCH_OLD (git worktree add /tmp/old
// 22c5d27 && cd /tmp/old && go build -o abusewatch-old ./cmd/abusewatch): building it
// would add a minute to every run, and the daemon package's
// TestJournalDirectoryUpgradeGivesQuietHostsAPosition commits the older version's cursor
// itself and runs always.
func TestJournalDirectoryUpgradeFromTheMergedCursorWithTheOlderBinary(t *testing.T) {
	journaltest.Need(t)
	old := os.Getenv("ABUSEWATCH_OLD")
	if old == "" {
		t.Skip("set ABUSEWATCH_OLD to a binary built from 22c5d27 (the daemon package's upgrade test runs without it)")
	}
	dir := t.TempDir()
	f := &fleetJournals{t: t, dir: filepath.Join(dir, "journal")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.write(50)
	cfg := journalConfig(t, dir, f.dir)

	// The older binary knows no policy.settle: its config is the same without it. The
	// binary is this one's again however the older one's run ends (a failure left every
	// later test of the package running the older binary).
	doc, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	oldCfg := filepath.Join(dir, "old.toml")
	if err := os.WriteFile(oldCfg, []byte(strings.Replace(string(doc), "settle = \"0s\"\n", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	newBinary := binary
	defer func() { binary = newBinary }()
	binary = old
	d := startDaemon(t, dir, "run", "--debug", "--config", oldCfg)
	d.waitEvents(t, 150)
	d.stop(t)
	binary = newBinary
	checkExactlyOnce(t, dir, f.user)

	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "journal: read the directory's journals to their end")
	// One host (web1) logs; the others (web2, web3) are quiet.
	var entries [][]byte
	for i := range 5 {
		entries = append(entries, sshEntry("web1", bootWeb, f.k+i, time.Millisecond, f.user, ""))
		f.user++
	}
	f.k += 5
	journaltest.Write(t, filepath.Join(f.dir, "remote-web1.journal"), entries...)
	d.waitEvents(t, 5)
	d.stop(t)
	checkExactlyOnce(t, dir, f.user)

	d = startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitLog(t, "journal: read the directory's journals to their end")
	d.stop(t)
	checkExactlyOnce(t, dir, f.user)
}
