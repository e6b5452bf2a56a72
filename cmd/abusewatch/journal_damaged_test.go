package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/daemon/journaltest"
)

// A truncated journal file beside a host's journal (journald's or journal-remote's
// *.journal~ after a crash on a full disk) makes journalctl refuse every file given with
// it: the file is left out, named once in a warning, and the host's readable journal is
// read, as are the other hosts', when they are written to later too (review 25 #2).
func TestJournalDirectoryLeavesOutATruncatedFile(t *testing.T) {
	journaltest.Need(t)
	dir := t.TempDir()
	jdir := filepath.Join(dir, "journal")
	if err := os.Mkdir(jdir, 0o755); err != nil {
		t.Fatal(err)
	}
	const boot2 = "11111111111111111111111111111111"
	var a, b [][]byte
	for i := range 20 {
		a = append(a, sshEntry("web1", bootWeb, i, 0, i, ""))
		b = append(b, sshEntry("web2", boot2, i, 0, 20+i, ""))
	}
	journaltest.Write(t, filepath.Join(jdir, "remote-web1.journal"), a...)
	journaltest.Write(t, filepath.Join(jdir, "remote-web2.journal"), b...)
	data, err := os.ReadFile(filepath.Join(jdir, "remote-web2.journal"))
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(jdir, "remote-web2@0001-0002.journal~")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o640); err != nil {
		t.Fatal(err)
	}
	cfg := journalConfig(t, dir, jdir)
	d := startDaemon(t, dir, "run", "--debug", "--config", cfg)
	d.waitEvents(t, 40)
	// Both hosts write again.
	var more1, more2 [][]byte
	for i := range 5 {
		more1 = append(more1, sshEntry("web1", bootWeb, 20+i, 0, 40+i, ""))
		more2 = append(more2, sshEntry("web2", boot2, 20+i, 0, 45+i, ""))
	}
	journaltest.Write(t, filepath.Join(jdir, "remote-web1.journal"), more1...)
	journaltest.Write(t, filepath.Join(jdir, "remote-web2.journal"), more2...)
	d.waitEvents(t, 50)
	d.stop(t)
	checkExactlyOnce(t, dir, 50)
	warned := 0
	for _, l := range d.lines() {
		if strings.Contains(l, "leaving out a journal file") && strings.Contains(l, "file="+truncated) {
			warned++
		}
		if strings.Contains(l, "journalctl stopped") {
			t.Errorf("journalctl was counted as failing: %s", l)
		}
	}
	if warned != 1 {
		t.Errorf("the truncated file was named in %d warnings, want 1", warned)
	}
}
