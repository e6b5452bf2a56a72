package daemon

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// syslogSenders are the hosts the syslog listener passed messages on from, each with
// when the newest of them was read, since the process started. The daily summary names
// each sender in its SOURCES and warns of one that sent nothing in its period: a fleet
// whose rsyslog stopped forwarding looks like a quiet day otherwise. The summary's mark
// keeps them across restarts. It outlives a reload, like the Counters.
type syslogSenders struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// maxSyslogSenders bounds the hosts remembered: a sender names itself, and one that
// names a new host in every message must not grow the memory or the summary.
const maxSyslogSenders = 1024

// saw notes that messages of hosts were read, the newest at the times given.
func (s *syslogSenders) saw(hosts map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]time.Time{}
	}
	for h, at := range hosts {
		if prev, ok := s.last[h]; ok || len(s.last) < maxSyslogSenders {
			if at.After(prev) {
				s.last[h] = at
			}
		}
	}
}

// snapshot is a copy of what s holds (nil s: none).
func (s *syslogSenders) snapshot() map[string]time.Time {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.last)
}

// senderMarkPrefix starts the key of a syslog sender's mark among a summary's source
// marks (no file path starts with it).
const senderMarkPrefix = syslogSource + "\x00"

// senderForget is how long after its last message a sender is still named (and warned
// of) in the summaries.
const senderForget = summaryMaxPeriod

// syslogSenderLines are the SOURCES lines of the syslog listener's senders: those seen
// (seen: when each was last read from) or known to the last summary's marks (last) that
// sent within senderForget of now, each with its events of the period (events, newest).
// A sender that sent nothing since from gets a WARNING. It returns the senders' marks
// for the next summary.
func syslogSenderLines(seen map[string]time.Time, last map[string]store.SourceMark, events map[string]int,
	newest map[string]time.Time, from, now time.Time) ([]mailer.SourceLine, map[string]store.SourceMark) {
	moved := map[string]time.Time{}
	for key, m := range last {
		if h, ok := strings.CutPrefix(key, senderMarkPrefix); ok {
			moved[h] = m.Moved
		}
	}
	for h, at := range seen {
		if at.After(moved[h]) {
			moved[h] = at
		}
	}
	var lines []mailer.SourceLine
	marks := map[string]store.SourceMark{}
	for _, h := range slices.Sorted(maps.Keys(moved)) {
		at := moved[h]
		if now.Sub(at) > senderForget {
			continue
		}
		line := mailer.SourceLine{Name: "syslog from " + h, Events: events[h], LastEvent: newest[h]}
		if at.Before(from) {
			line.Silent, line.Since = true, at
		} else {
			line.Read = "messages received"
		}
		lines = append(lines, line)
		marks[senderMarkPrefix+h] = store.SourceMark{Position: store.Position{Source: senderMarkPrefix + h}, Moved: at}
	}
	return lines, marks
}
