package daemon

import (
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/detect"
)

// senderTimes are the syslog listener's hosts' last local times: a host's messages come
// in the order it wrote them, but the listener's, from many hosts and connections, do
// not. In the hour an autumn clock change repeats, a host's RFC 3164 time (which has no
// offset) is dated by its own order (detect.SourceTimes), and by when it arrived.
type senderTimes struct {
	mu sync.Mutex
	of map[string]*detect.SourceTimes
}

// localTime is the instant of t, the local time without an offset of a message from
// host that arrived at read (see detect.SourceTimes.Local). The hosts are those of the
// listener's lifetime, up to maxNamedPeers (a host named in a forged message counts
// too); a host beyond them is dated by when its message arrived alone.
func (n *peerNames) localTime(host string, t, read time.Time) time.Time {
	var seen *detect.SourceTimes
	if n != nil {
		n.times.mu.Lock()
		defer n.times.mu.Unlock()
		seen = n.times.of[host]
		if seen == nil && len(n.times.of) < maxNamedPeers {
			if n.times.of == nil {
				n.times.of = map[string]*detect.SourceTimes{}
			}
			seen = &detect.SourceTimes{}
			n.times.of[host] = seen
		}
	}
	return seen.Local(t, read, true)
}
