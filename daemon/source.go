package daemon

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// Every source (a followed file, the journal, the syslog listener) looks the same to the
// Run loop: it sends lines, each with the position just after it, to one channel, and
// returns only when its context ends or it cannot go on at all.

// sourceLine is a record with the position reached after it. A line with posOnly set
// carries no record: it moves the source's position (to the start of a new file after a
// rotation) so that a crash right after the switch resumes in the right file. A line
// without a position (pos.Source == "") comes from a source that cannot be replayed, the
// syslog listener.
type sourceLine struct {
	rec     abusewatch.Record
	pos     store.Position
	fp      store.Position // for files: the fingerprint of the bytes before pos (see fingerprintKey)
	posOnly bool
}

// SourceCounters count what one source did; they serve the tests, status and metrics.
type SourceCounters struct {
	Lines       atomic.Int64 // lines read
	Bytes       atomic.Int64 // bytes read, newlines included
	Rotations   atomic.Int64 // times the file under the path was replaced and the old one drained
	Truncations atomic.Int64 // times the file shrank in place (truncated or copytruncated)
	Errors      atomic.Int64 // open, read, permission or journalctl failures
	Long        atomic.Int64 // lines longer than the cap, kept cut
	Lag         atomic.Int64 // bytes behind the end of the file at the last look
	// Of a syslog listener, what it discarded (each counted in Errors too): messages
	// and connections from networks not in syslog.allow, connections over its limits,
	// messages a stream ended in the middle of, datagrams the kernel dropped.
	Refused, OverLimit, Cut, Dropped atomic.Int64
	last                             atomic.Pointer[SourceError] // the newest error counted
}

// SourceError is the newest error a source counted, and when: status shows it beside
// the count, which goes on counting after the error has cleared.
type SourceError struct {
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
}

// fail counts n errors of the source, the newest of them msg (log text: sanitised).
func (c *SourceCounters) fail(n int64, msg string) {
	c.Errors.Add(n)
	c.last.Store(&SourceError{Message: sanitizeText(msg), Time: time.Now()})
}

// SourceStats is a snapshot of one source's counters.
type SourceStats struct {
	Source      string `json:"source"`
	Lines       int64  `json:"lines"`
	Bytes       int64  `json:"bytes"`
	Rotations   int64  `json:"rotations"`
	Truncations int64  `json:"truncations"`
	Errors      int64  `json:"errors"`
	// The newest error counted in Errors, which may have cleared since (nil: none).
	LastError *SourceError `json:"last_error,omitempty"`
	Long      int64        `json:"long_lines"`
	Lag       int64        `json:"lag_bytes"`
	Refused   int64        `json:"refused,omitempty"`
	OverLimit int64        `json:"over_limit,omitempty"`
	Cut       int64        `json:"cut,omitempty"`
	Dropped   int64        `json:"dropped,omitempty"`
	// Records whose copy another source carried first: no event (duplicates.go).
	Duplicates int64 `json:"duplicates,omitempty"`
}

// sourceSet holds the counters of every source the daemon has started.
type sourceSet struct {
	mu       sync.Mutex
	counters map[string]*SourceCounters
}

func (s *sourceSet) get(name string) *SourceCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counters == nil {
		s.counters = map[string]*SourceCounters{}
	}
	c, ok := s.counters[name]
	if !ok {
		c = &SourceCounters{}
		s.counters[name] = c
	}
	return c
}

// SourceStats returns the counters of every source, sorted by name.
func (d *Daemon) SourceStats() []SourceStats {
	d.sources.mu.Lock()
	defer d.sources.mu.Unlock()
	out := make([]SourceStats, 0, len(d.sources.counters))
	for name, c := range d.sources.counters {
		out = append(out, SourceStats{Source: name, Lines: c.Lines.Load(), Bytes: c.Bytes.Load(),
			Rotations: c.Rotations.Load(), Truncations: c.Truncations.Load(), Errors: c.Errors.Load(), LastError: c.last.Load(),
			Long: c.Long.Load(), Lag: c.Lag.Load(),
			Refused: c.Refused.Load(), OverLimit: c.OverLimit.Load(), Cut: c.Cut.Load(), Dropped: c.Dropped.Load()})
	}
	slices.SortFunc(out, func(a, b SourceStats) int {
		switch {
		case a.Source < b.Source:
			return -1
		case a.Source > b.Source:
			return 1
		}
		return 0
	})
	return out
}

// sourceAttrs are a source's counters as log attributes, logged with every rotation,
// truncation and error so the log alone tells what happened to a file.
func sourceAttrs(c *SourceCounters) []any {
	return []any{"lines", c.Lines.Load(), "rotations", c.Rotations.Load(), "truncations", c.Truncations.Load(),
		"errors", c.Errors.Load()}
}

// rotationStamp is what logrotate and savelog put after a rotated file's name: a number
// (".1"), or a date as dateext writes it, its separator included (dateformat chooses
// both): "-20261122" (the default), "-2026112213" (hourly), "-20261122-1763769600"
// (%s, for several a day), "-2026-11-22", ".2026-11-22", "_20261122".
const rotationStamp = `(?:\.\d+|[-._]\d{4}[-_.]?\d{2}[-_.]?\d{2}(?:[-_.]?\d+)*)`

// compressionEnding is the suffix a compressed copy gets: one of compressionSuffixes.
var compressionEnding = func() string {
	quoted := make([]string, len(compressionSuffixes))
	for i, z := range compressionSuffixes {
		quoted[i] = regexp.QuoteMeta(z)
	}
	return `(?:` + strings.Join(quoted, "|") + `)`
}()

// rotatedSuffix matches what logrotate and savelog append to a rotated file: a
// rotationStamp, followed by a compression suffix or not, or a bare ".gz" / ".old".
var rotatedSuffix = regexp.MustCompile(`^` + rotationStamp + `?` + compressionEnding + `?$|^\.old$`)

// isRotatedOf says whether name is a rotated copy of the live file base.
func isRotatedOf(name, base string) bool {
	if len(name) <= len(base) || name[:len(base)] != base {
		return false
	}
	return rotatedSuffix.MatchString(name[len(base):])
}

// looksRotated says whether a file name is a rotated log (auth.log.1, secure-20261122,
// messages.2.gz, auth.log-2026-11-22), the files a glob such as /var/log/secure* must
// not follow.
var looksRotated = regexp.MustCompile(rotationStamp + compressionEnding + `?$|` + compressionEnding + `$|\.old$`)

// notLive says whether a file a glob matched is not a live log to follow: a rotated copy
// (read at rotation), or an editor's or a package manager's leftover such as
// secure.bak or secure~ (following it read its lines a second time).
func notLive(name string) bool { return looksRotated.MatchString(name) || detect.Leftover(name) }

// backoff doubles a wait up to a ceiling.
type backoff struct {
	next, max time.Duration
}

// wait waits for the current delay or the end of ctx, then doubles the delay.
func (b *backoff) wait(ctx context.Context) error {
	t := time.NewTimer(b.next)
	defer t.Stop()
	b.next = min(2*b.next, b.max)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
