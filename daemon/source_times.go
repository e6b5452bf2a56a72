package daemon

import (
	"sync"

	"github.com/abusewatch/abusewatch/detect"
)

// sourceTimes is what detect remembers of each source the pipeline reads in the order
// its lines were written, by the source's name (a followed or scanned file's path): the
// time of its last line, which settles which pass of the hour an autumn clock change
// repeats a local time without an offset is of (detect.SourceTimes). The syslog
// listener's messages are in the order they arrived from many hosts: each host's are
// dated by its own (senderTimes), and the pipeline keeps none for them. A reload's
// pipeline goes on with the same.
type sourceTimes struct {
	mu   sync.Mutex
	last map[string]detect.SourceTimes
}

// batchTimes are the sources' times as a batch reads them; they become the sources'
// (keep) once the batch is committed: a batch the store refused is read again, from
// where its sources were before it.
type batchTimes struct {
	from *sourceTimes
	of   map[string]*detect.SourceTimes
}

// begin starts a batch's reading of s.
func (s *sourceTimes) begin() batchTimes { return batchTimes{from: s} }

// source is what the batch knows of source; nil for the syslog listener's, and with no
// sourceTimes (a pipeline built by a test).
func (b *batchTimes) source(source string) *detect.SourceTimes {
	if b.from == nil || source == syslogSource {
		return nil
	}
	if t, ok := b.of[source]; ok {
		return t
	}
	if b.of == nil {
		b.of = map[string]*detect.SourceTimes{}
	}
	b.from.mu.Lock()
	t := b.from.last[source]
	b.from.mu.Unlock()
	b.of[source] = &t
	return &t
}

// keep makes what the batch read its sources' times.
func (b *batchTimes) keep() {
	if b.from == nil || len(b.of) == 0 {
		return
	}
	b.from.mu.Lock()
	defer b.from.mu.Unlock()
	if b.from.last == nil {
		b.from.last = map[string]detect.SourceTimes{}
	}
	for source, t := range b.of {
		b.from.last[source] = *t
	}
}
