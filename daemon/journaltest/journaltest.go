// Package journaltest writes real systemd journal files for tests: entries in the
// journal export format, turned into a journal file by systemd-journal-remote, which the
// real journalctl then reads. Tests that need it skip, with the package to install,
// where the tools are missing.
package journaltest

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// Remote is systemd-journal-remote, which writes journal files from the export format.
const Remote = "/lib/systemd/systemd-journal-remote"

// Need skips t unless journalctl and systemd-journal-remote are installed.
func Need(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("journalctl"); err != nil {
		t.Skip("journalctl is not installed (Debian: apt-get install systemd)")
	}
	if _, err := os.Stat(Remote); err != nil {
		t.Skip("systemd-journal-remote is not installed (Debian: apt-get install systemd-journal-remote): no way to write a journal file")
	}
}

// Entry is one entry of the export format: fields "NAME=value", in the binary form
// (name, 64-bit little-endian length, bytes) when the value is long, not UTF-8 or has a
// newline.
func Entry(fields ...string) []byte {
	var b bytes.Buffer
	for _, f := range fields {
		name, value, _ := strings.Cut(f, "=")
		if len(value) <= 4096 && utf8.ValidString(value) && !strings.Contains(value, "\n") {
			b.WriteString(f + "\n")
			continue
		}
		b.WriteString(name + "\n")
		binary.Write(&b, binary.LittleEndian, uint64(len(value)))
		b.WriteString(value + "\n")
	}
	b.WriteString("\n")
	return b.Bytes()
}

// Write appends entries to the journal file at path.
func Write(t testing.TB, path string, entries ...[]byte) {
	t.Helper()
	cmd := exec.Command(Remote, "-o", path, "-")
	cmd.Stdin = bytes.NewReader(bytes.Join(entries, nil))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}
