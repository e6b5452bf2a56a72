package daemon

import (
	"compress/gzip"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A lagging follower finds a new file under the path after two rotations with
// compress (logrotate without delaycompress): auth.log.2.gz holds the file it read,
// auth.log.1.gz the one in between. Just after it lists the rotated files, logrotate
// rotates a third time: auth.log.2.gz becomes .3.gz, auth.log.1.gz becomes .2.gz, the
// new file it has just opened becomes .1 and is compressed to .1.gz. A check that looked
// at a listed name then saw another file than the one the name was listed for: the file
// in between passed for a copy of the new one and was never read, and the compressed
// copy of the file read passed for the one in between and was read again (in 1 run of
// 80 of TestRotationWithCompression). Every line of every generation is read once, at
// each stage of the compression.
func TestRotationBetweenListingAndReadingTheRotatedFiles(t *testing.T) {
	for _, stage := range []string{"compressing", "compressed"} {
		t.Run(stage, func(t *testing.T) {
			r := newRotationRace(t)
			r.rotateCompressed(true)
			r.write(40, 80)
			r.rotateCompressed(true)
			r.write(80, 120)
			listings := 0
			r.ff.listed = func() {
				if listings++; listings == 1 {
					r.rotateCompressed(stage == "compressed")
				}
			}
			r.check()
		})
	}
}

// The file in between is being compressed when the follower lists the rotated files:
// auth.log.1 and the start of auth.log.1.gz. It is read once, whole, from auth.log.1.
func TestRotationWhileTheFileInBetweenIsCompressed(t *testing.T) {
	r := newRotationRace(t)
	r.rotateCompressed(true)
	r.write(40, 80)
	r.rotateCompressed(false)
	r.write(80, 120)
	r.check()
}

// rotationRace is a follower that has read auth.log (lines 0–39) and the files
// logrotate makes of it.
type rotationRace struct {
	t    *testing.T
	path string
	ff   *fileFollower
	out  chan sourceLine
	cur  *openFile
	next int // the next line to write
}

func newRotationRace(t *testing.T) *rotationRace {
	r := &rotationRace{t: t, path: filepath.Join(t.TempDir(), "auth.log"), out: make(chan sourceLine, 1000)}
	r.ff = &fileFollower{path: r.path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: r.out}
	r.write(0, 40)
	if r.cur = r.ff.openLive(context.Background()); r.cur == nil {
		t.Fatal("cannot open the file")
	}
	t.Cleanup(r.cur.close)
	if err := r.ff.drain(context.Background(), r.cur); err != nil {
		t.Fatal(err)
	}
	return r
}

// write appends lines from..to-1 to the file under the path.
func (r *rotationRace) write(from, to int) {
	appendTo(r.t, r.path, userLines(from, to))
	r.next = to
}

func (r *rotationRace) move(from, to string) {
	r.t.Helper()
	if err := os.Rename(r.path+from, r.path+to); err != nil && !os.IsNotExist(err) {
		r.t.Fatal(err)
	}
}

// rotateCompressed rotates as logrotate with compress: name.N.gz becomes name.N+1.gz,
// the file name.1, compressed to name.1.gz. done: gzip has finished and deleted
// name.1; else it has written the start of name.1.gz only.
func (r *rotationRace) rotateCompressed(done bool) {
	r.t.Helper()
	for i := 3; i >= 1; i-- {
		r.move(fmt.Sprintf(".%d.gz", i), fmt.Sprintf(".%d.gz", i+1))
	}
	r.move("", ".1")
	if done {
		gzipTo(r.t, r.path+".1")
		return
	}
	b, err := os.ReadFile(r.path + ".1")
	if err != nil {
		r.t.Fatal(err)
	}
	f, err := os.Create(r.path + ".1.gz")
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	if _, err := zw.Write(b[:len(b)/2]); err != nil {
		r.t.Fatal(err)
	}
	if err := zw.Flush(); err != nil {
		r.t.Fatal(err)
	}
}

// check has the follower move to the new file, reads that file, and checks that every
// line written was read once: 0–39 the file read, 40–79 the one in between, 80–119 the
// new one.
func (r *rotationRace) check() {
	t := r.t
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	ctx := context.Background()
	next, err := r.ff.rotated(ctx, r.cur, tick.C)
	if err != nil || next == nil {
		t.Fatalf("rotated: %v, %v", next, err)
	}
	defer next.close()
	// The new file, read through its descriptor, maybe under a rotated name by now.
	if err := r.ff.drain(ctx, next); err != nil {
		t.Fatal(err)
	}
	r.checkRead(0)
}

// checkRead checks that each line from..r.next-1 was sent once.
func (r *rotationRace) checkRead(from int) {
	t := r.t
	t.Helper()
	close(r.out)
	count := map[string]int{}
	for l := range r.out {
		if !l.posOnly {
			_, user, _ := strings.Cut(l.rec.Line, "invalid user ")
			user, _, _ = strings.Cut(user, " ")
			count[user]++
		}
	}
	var wrong []string
	for i := from; i < r.next; i++ {
		if n := count[fmt.Sprintf("u%d", i)]; n != 1 {
			wrong = append(wrong, fmt.Sprintf("u%d×%d", i, n))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of lines %d–%d not read once: %v", len(wrong), from, r.next-1, wrong[:min(len(wrong), 12)])
	}
}

// The daemon stopped in auth.log after line 19; lines 20–39 were written, then it was
// rotated and compressed (auth.log.1.gz) and a new auth.log got lines 40–79. Just after
// the follower, started again, lists the rotated files, logrotate rotates once more:
// auth.log.1.gz becomes .2.gz, the new file .1.gz. The rest of the file it read is
// found and read from its copy all the same (judged by the name, the copy looked like
// the new file's and lines 20–39 were lost), and the new file once.
func TestResumeWhileLogrotateRenames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	ctx := context.Background()
	appendTo(t, path, userLines(0, 20))
	before := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}, out: make(chan sourceLine, 100)}
	o := before.openLive(ctx)
	if o == nil {
		t.Fatal("cannot open the file")
	}
	if err := before.drain(ctx, o); err != nil {
		t.Fatal(err)
	}
	saved := savedPositions{path: o.pos(path), fingerprintKey(path): o.fingerprint(path)}
	o.close()

	r := &rotationRace{t: t, path: path, out: make(chan sourceLine, 1000)}
	r.write(20, 40)
	r.rotateCompressed(true)
	r.write(40, 80)
	r.ff = &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: saved, c: &SourceCounters{}, out: r.out}
	listings := 0
	r.ff.listed = func() {
		if listings++; listings == 1 {
			r.rotateCompressed(true)
		}
	}
	live, err := r.ff.resume(ctx)
	if err != nil || live == nil {
		t.Fatalf("resume: %v, %v", live, err)
	}
	defer live.close()
	if err := r.ff.drain(ctx, live); err != nil {
		t.Fatal(err)
	}
	r.checkRead(20)
}

// logrotate rotates again just after the follower opened the new file: the new file
// becomes auth.log.1, and gzip has created auth.log.1.gz but written nothing of it when
// the follower reads the heads of the rotated files. By the time it reads them, gzip
// has written it whole. The copy was not taken for the new file's (its head was empty)
// nor for one being compressed (its source is the new file, which is not among the
// rotated files to read), so the new file's lines were read twice: from the copy, and
// through the descriptor (4,100 lines twice in 1 run of 2 of TestRotationWithCompression
// under load).
func TestACopyOfTheNewFileStartedAsTheRotatedFilesAreListed(t *testing.T) {
	r := newRotationRace(t)
	r.rotateCompressed(true)
	r.write(40, 80)
	listings := 0
	var gz *os.File
	r.ff.listed = func() {
		switch listings++; listings {
		case 1:
			r.move(".1.gz", ".2.gz")
			r.move("", ".1")
			var err error
			if gz, err = os.Create(r.path + ".1.gz"); err != nil {
				t.Fatal(err)
			}
		case 3:
			b, err := os.ReadFile(r.path + ".1")
			if err != nil {
				t.Fatal(err)
			}
			zw := gzip.NewWriter(gz)
			if _, err := zw.Write(b); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			gz.Close()
		}
	}
	r.check()
	if listings < 3 {
		t.Errorf("%d listings of the rotated files; the test needs the third", listings)
	}
}
