package daemon

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// What logrotate's compresscmd made (testdata/compressed, by the real tools) reads as
// the text it holds, whatever the file's name; a format abusewatch cannot read is an
// error that names it, not lines of garbage.
func TestOpenLogReadsWhatLogrotateCompressed(t *testing.T) {
	dir := filepath.Join("testdata", "compressed")
	want, err := os.ReadFile(filepath.Join(dir, "auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"auth.log", "auth.log.gz", "auth.log.bz2", "auth.log.xz", "auth.log.zst"} {
		// Renamed: the format is told by the first bytes (a copy is named before it is
		// compressed, and scan takes any name).
		renamed := filepath.Join(t.TempDir(), "auth.log.1")
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(renamed, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := OpenLog(renamed)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes (%v), want the %d of auth.log", name, len(got), err, len(want))
		}
	}
	// Text that starts like a magic number is still text.
	text := filepath.Join(t.TempDir(), "notes.log")
	if err := os.WriteFile(text, []byte("BZh is not bzip2 without its block size\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := OpenLog(text); err != nil {
		t.Errorf("%s: %v", text, err)
	} else if b, _ := io.ReadAll(r); string(b) != "BZh is not bzip2 without its block size\n" {
		t.Errorf("%s read as %q", text, b)
		r.Close()
	} else {
		r.Close()
	}
	dotZ := filepath.Join(t.TempDir(), "auth.log.1.Z")
	if err := os.WriteFile(dotZ, []byte{0x1f, 0x9d, 0x90, 'M', 'a', 'y'}, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, format := range map[string]string{filepath.Join(dir, "auth.log.lz4"): "lz4", dotZ: "compress (.Z)"} {
		r, err := OpenLog(path)
		if err == nil {
			r.Close()
			t.Errorf("%s: read as text", path)
		} else if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "compressed with "+format+", which abusewatch cannot read") {
			t.Errorf("%s: error %q; want it to name the file and %s", path, err, format)
		}
	}
}

// savedPositions is a store whose last commit left the positions it holds.
type savedPositions map[string]store.Position

func (s savedPositions) Position(source string) (store.Position, bool, error) {
	p, ok := s[source]
	return p, ok, nil
}

func (s savedPositions) Positions() ([]store.Position, error) {
	var out []store.Position
	for k, p := range s {
		p.Source = k
		out = append(out, p)
	}
	return out, nil
}

// The daemon stopped in the middle of a file that logrotate then rotated and compressed
// with gzip, xz or zstd: the follower reads the rest of it from the compressed copy,
// from the saved offset, then the new file, each line once. Compressed with lz4, which
// it cannot read, the copy is named in the warning and none of its bytes pass for lines.
func TestFollowerResumesInACopyCompressedByAnyCompressor(t *testing.T) {
	compressors := map[string]func(w io.Writer) io.WriteCloser{
		"gzip": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
		"xz": func(w io.Writer) io.WriteCloser {
			zw, err := xz.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return zw
		},
		"zstd": func(w io.Writer) io.WriteCloser {
			zw, err := zstd.NewWriter(w)
			if err != nil {
				t.Fatal(err)
			}
			return zw
		},
		"lz4": nil, // the real lz4's output, as logrotate's compresscmd leaves it
	}
	for name, compressor := range compressors {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "auth.log")
			var old strings.Builder
			for i := range 20 {
				old.WriteString(lineNumbered("old", i))
			}
			if err := os.WriteFile(path, []byte(old.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			// Stopped after line 10: the position and the fingerprint it committed.
			var logged bytes.Buffer
			ff := &fileFollower{path: path, log: slog.New(slog.NewTextHandler(&logged, nil)), c: &SourceCounters{}}
			offset := int64(10 * len(lineNumbered("old", 0)))
			o := ff.open(t.Context(), path, offset)
			if o == nil {
				t.Fatal("cannot open the file")
			}
			ff.store = savedPositions{path: o.pos(path), fingerprintKey(path): o.fingerprint(path)}
			o.close()
			// Rotated as logrotate does: renamed, a new file created under the name, the
			// renamed one compressed into a copy and removed.
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(lineNumbered("new", 0)+lineNumbered("new", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			copyName := path + ".1." + map[string]string{"gzip": "gz", "xz": "xz", "zstd": "zst", "lz4": "lz4"}[name]
			var b []byte
			if compressor != nil {
				var buf bytes.Buffer
				zw := compressor(&buf)
				if _, err := zw.Write([]byte(old.String())); err != nil {
					t.Fatal(err)
				}
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				b = buf.Bytes()
			} else {
				var err error
				if b, err = os.ReadFile(filepath.Join("testdata", "compressed", "auth.log.lz4")); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(copyName, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path + ".1"); err != nil {
				t.Fatal(err)
			}
			var want []string
			if compressor != nil {
				for i := 10; i < 20; i++ {
					want = append(want, strings.TrimSuffix(lineNumbered("old", i), "\n"))
				}
			}
			want = append(want, strings.TrimSuffix(lineNumbered("new", 0), "\n"), strings.TrimSuffix(lineNumbered("new", 1), "\n"))
			got, _ := followLines(t, ff, len(want))
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("lines %q; want %q", got, want)
			}
			if compressor == nil && !strings.Contains(logged.String(), "unreadable="+`"`+copyName+": compressed with lz4, which abusewatch cannot read") {
				t.Errorf("the warning does not name the lz4 copy: %s", logged.String())
			}
		})
	}
}

func lineNumbered(file string, i int) string {
	return "Dec  6 10:16:" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + " web1 sshd[4242]: Failed password for root from 198.51.100.7 port 22 ssh2 (" + file + ")\n"
}

// followLines runs ff until it has sent n lines and returns them, and the last with its
// position; it fails the test after 10 s.
func followLines(t *testing.T, ff *fileFollower, n int) (lines []string, last sourceLine) {
	t.Helper()
	out := make(chan sourceLine, 10)
	ff.out = out
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ff.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.After(10 * time.Second)
	for len(lines) < n {
		select {
		case l := <-out:
			if !l.posOnly {
				lines, last = append(lines, l.rec.Line), l
			}
		case <-deadline:
			t.Fatalf("%s: read %q, want %d lines", ff.path, lines, n)
		}
	}
	return lines, last
}
