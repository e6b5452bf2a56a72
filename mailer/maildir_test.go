package mailer

import (
	"context"
	"net/mail"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMaildirDeliversIntoNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reports") // does not exist yet
	md := Maildir{Dir: dir}
	r := testReport(t)
	seen := map[string]bool{}
	for range 3 {
		loc, err := md.Deliver(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(loc) != filepath.Join(dir, "new") {
			t.Errorf("location %q is not in new/", loc)
		}
		if seen[loc] {
			t.Errorf("two deliveries wrote %q", loc)
		}
		seen[loc] = true
		f, err := os.Open(loc)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s does not parse: %v", loc, err)
		}
		if got := m.Header.Get("Message-Id"); got != r.MessageID {
			t.Errorf("Message-Id = %q, want %q", got, r.MessageID)
		}
		if got := m.Header.Get("Subject"); got != r.Subject {
			t.Errorf("Subject = %q, want %q", got, r.Subject)
		}
		b, err := os.ReadFile(loc)
		if err != nil {
			t.Fatal(err)
		}
		// The Date is when it was written there (TestDateIsWhenSent).
		if now := time.Now(); string(Dated(b, now)) != string(Dated(r.Message, now)) {
			t.Error("the file holds other bytes than the report's message")
		}
	}
	for sub, want := range map[string]int{"tmp": 0, "new": 3, "cur": 0} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != want {
			t.Errorf("%s/ holds %d files, want %d", sub, len(entries), want)
		}
	}
}

func TestMaildirHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := (Maildir{Dir: dir}).Deliver(ctx, testReport(t)); err == nil {
		t.Fatal("Deliver with a cancelled context: no error")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "new")); len(entries) != 0 {
		t.Errorf("new/ holds %d files", len(entries))
	}
}

func TestMaildirUnwritableIsPermanent(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := (Maildir{Dir: file}).Deliver(context.Background(), testReport(t))
	if err == nil || Temporary(err) {
		t.Fatalf("err = %v, Temporary = %v; want a permanent error", err, Temporary(err))
	}
}

// Root's delivery into the service's maildir (`sudo abusewatch scan` before the first
// start, maildir transport) makes tmp/, new/, cur/ and the message the directory's
// owner's: root's 0700 directories kept the daemon from delivering there.
func TestMaildirAsRootGivesWhatItCreatesTheDirectorysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const uid, gid = 4242, 4343
	base := t.TempDir()
	if err := os.Chown(base, uid, gid); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "Maildir")
	loc, err := Maildir{Dir: dir}.Deliver(context.Background(), testReport(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "new"), filepath.Join(dir, "cur"), loc} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is %d:%d, want the directory's %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
	}
}

// A full disk is the admin's to free, and the report goes when there is room again: it
// failed for good, and stayed failed once the space was back. A real full file system:
// a tmpfs of 64 KiB, filled.
func TestMaildirOnAFullDiskIsTemporary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	md := Maildir{Dir: filepath.Join(dir, "Maildir")}
	if _, err := md.Deliver(context.Background(), testReport(t)); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break // full
		}
	}
	f.Close()
	_, err = md.Deliver(context.Background(), testReport(t))
	if err == nil || !Temporary(err) {
		t.Fatalf("delivery to a full disk: err = %v, Temporary = %v; want a temporary error", err, Temporary(err))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := md.Deliver(context.Background(), testReport(t)); err != nil {
		t.Errorf("once there is room again: %v", err)
	}
}
