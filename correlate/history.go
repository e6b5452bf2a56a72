package correlate

import (
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/abusewatch/abusewatch"
)

// Every batch asks again for the recent events of each address and network it brings
// and for their newest incident. recentEvents answers the first from memory: the events
// of the last lookback (the longest window a rule looks back over), kept by Correlate
// across live batches and by each pass over history (Recorrelate) for itself. A pass
// also remembers the incidents it read or made (latestIncidents). What reaches further
// back (the success rule's week, recurrence's first day) is read from the store.

// recentEvents holds the events from covered on, by address and by the networks the
// rules read, and answers reads that lie within them. A Correlator's starts after the
// newest event stored before it (or, with an empty store, at the first batch); a pass's
// at its start. Each event is held once; the indexes hold its position in the order
// added, each index in time order. Events may come a little out of order (several
// hosts, a delayed syslog); one older than covered is read from the store.
//
// It holds at most limit events and limit typical ones' bytes (heldEventBytes), but for
// the newest batch.
//
// A batch is taken in and let go of whole, by its address and network groups (found
// once per event, for the rules as well): a batch of 20,000 events from a few hundred
// addresses costs the indexes a few hundred updates, not four per event.
type recentEvents struct {
	store    EventReader
	span     time.Duration
	limit    int // events held at most, but for the newest batch
	maxBytes int // and bytes (heldBytes), but for the newest batch
	bytes    int
	covered  time.Time // every event added at or after it is held; zero: none added yet
	sizes    []func(netip.Addr) netip.Prefix

	// The batches added, not copied: an event's position is its batch's start plus its
	// index in it. Positions first and on are held.
	batches []heldBatch
	first   int
	byAddr  map[netip.Addr]*positions
	byNet   map[netip.Prefix]*positions

	release func([]abusewatch.Event) // if set, takes the batches let go of
	sources *networkSources          // if set, the network rule's memo, kept by add
}

type heldBatch struct {
	start  int
	evs    []abusewatch.Event
	groups *batchGroups // and its span, groups.all
	bytes  int          // heldBytes
}

// heldEventBytes is the room recentEvents allows a held event, with its strings, its
// batch's groups and its places in the indexes: a typical line (a firewall's of 300
// bytes, sshd's of 120), even of a flood of a new address a line (each with groups and
// index keys of its own: 660 bytes besides its strings), fits it, so that it holds as
// many events as it did when it counted them alone; lines of 8 KiB do not take 100,000
// times that (review 29 F2: 60,000 of them and the store's cache took 2.6 GB).
const heldEventBytes = 1024

// indexKeyBytes is about what a key of the indexes by address and by network takes: its
// map entry and its positions.
const indexKeyBytes = 96

// heldBytes is the memory that holding batch (groups g) takes: its events, their
// strings, the groups and the indexes' keys and places.
func heldBytes(batch []abusewatch.Event, g *batchGroups) int {
	n := len(batch)*int(unsafe.Sizeof(abusewatch.Event{})) + cap(g.successes)*int(unsafe.Sizeof(addrEvent{})) +
		len(g.addrs)*int(unsafe.Sizeof(addrGroup{})+indexKeyBytes) + len(g.nets)*int(unsafe.Sizeof(netGroup{})+indexKeyBytes)
	for _, ag := range g.addrs {
		n += cap(ag.at) * int(unsafe.Sizeof(int32(0))+unsafe.Sizeof(0)) // in the group, in the index
	}
	for _, ng := range g.nets {
		n += cap(ng.at) * int(unsafe.Sizeof(int32(0))+unsafe.Sizeof(0))
	}
	for i := range batch {
		for _, f := range batch[i].StringFields() {
			n += len(*f)
		}
	}
	return n
}

// batchGroups are the events of a batch by address and by network (those recentEvents
// holds), as indexes into the batch in batch order.
type batchGroups struct {
	addrs     []addrGroup
	nets      []netGroup
	successes []addrEvent // the successful logins
	all       span        // of every event
	inOrder   bool        // the batch is in time order
}

// addrGroup is the events of one address (unmapped) in a batch.
type addrGroup struct {
	addr    netip.Addr
	at      []int32
	all     span // of its events
	counted span // of those other than successful logins
	nets    [4]int32
	nnets   int
}

// netGroup is the events of one network in a batch.
type netGroup struct {
	p  netip.Prefix
	at []int32
}

// addrEvent is the event at index at of a batch, of the address group addr.
type addrEvent struct{ at, addr int32 }

// span is the times from the oldest to the newest of n events.
type span struct {
	from, to time.Time
	n        int
}

func (s *span) widen(t time.Time) {
	if s.n == 0 || t.Before(s.from) {
		s.from = t
	}
	if s.n == 0 || t.After(s.to) {
		s.to = t
	}
	s.n++
}

func newRecentEvents(store EventReader, from time.Time, span time.Duration, limit int, sizes []func(netip.Addr) netip.Prefix) *recentEvents {
	return &recentEvents{store: store, span: span, limit: limit, maxBytes: limit * heldEventBytes, covered: from, sizes: sizes,
		byAddr: map[netip.Addr]*positions{}, byNet: map[netip.Prefix]*positions{}}
}

// end is the position after the last event held.
func (r *recentEvents) end() int {
	if len(r.batches) == 0 {
		return r.first
	}
	b := r.batches[len(r.batches)-1]
	return b.start + len(b.evs)
}

// at is the event at position p, which is held.
func (r *recentEvents) at(p int) *abusewatch.Event {
	for i := len(r.batches) - 1; ; i-- {
		if b := r.batches[i]; p >= b.start {
			return &b.evs[p-b.start]
		}
	}
}

// group finds the address and network groups of batch: one map lookup per event, one
// per network per address.
func (r *recentEvents) group(batch []abusewatch.Event) *batchGroups {
	g := &batchGroups{inOrder: true}
	ids := make([]int32, len(batch)) // each event's address group, -1 for none
	index := make(map[netip.Addr]int32, min(len(batch)/8, 4096))
	for i := range batch {
		e := &batch[i]
		if g.all.n > 0 && e.Time.Before(g.all.to) {
			g.inOrder = false
		}
		g.all.widen(e.Time)
		if !e.Addr.IsValid() {
			ids[i] = -1
			continue
		}
		a := e.Addr.Unmap()
		var k int32
		if i > 0 && ids[i-1] >= 0 && g.addrs[ids[i-1]].addr == a {
			k = ids[i-1] // the lines of one connection, of one visit, come together
		} else if j, ok := index[a]; ok {
			k = j
		} else {
			k = int32(len(g.addrs))
			index[a] = k
			g.addrs = append(g.addrs, addrGroup{addr: a})
		}
		ids[i] = k
		ag := &g.addrs[k]
		ag.all.widen(e.Time)
		if e.Class == abusewatch.ClassAuthSuccess {
			g.successes = append(g.successes, addrEvent{int32(i), k})
		} else {
			ag.counted.widen(e.Time)
		}
	}
	netIndex := make(map[netip.Prefix]int32, len(g.addrs))
	var netCounts []int
	for k := range g.addrs {
		ag := &g.addrs[k]
		for _, size := range r.sizes {
			p := size(ag.addr)
			j, ok := netIndex[p]
			if !ok {
				j = int32(len(g.nets))
				netIndex[p] = j
				g.nets = append(g.nets, netGroup{p: p})
				netCounts = append(netCounts, 0)
			}
			ag.nets[ag.nnets] = j
			ag.nnets++
			netCounts[j] += ag.all.n
		}
	}
	// Every group's positions are a slice of one array, filled in batch order.
	at := make([]int32, len(batch)*(1+len(r.sizes)))
	off := 0
	for k := range g.addrs {
		g.addrs[k].at = at[off : off : off+g.addrs[k].all.n]
		off += g.addrs[k].all.n
	}
	for j := range g.nets {
		g.nets[j].at = at[off : off : off+netCounts[j]]
		off += netCounts[j]
	}
	for i, k := range ids {
		if k < 0 {
			continue
		}
		ag := &g.addrs[k]
		ag.at = append(ag.at, int32(i))
		for _, j := range ag.nets[:ag.nnets] {
			g.nets[j].at = append(g.nets[j].at, int32(i))
		}
	}
	return g
}

// add takes in the next batch, which the caller must not change afterwards, and lets
// go of the batches held that lie wholly more than span before its oldest event, or
// over the limit. It returns the batch's groups.
func (r *recentEvents) add(batch []abusewatch.Event) *batchGroups {
	g := r.group(batch)
	if len(batch) == 0 {
		return g
	}
	if r.sources != nil {
		r.sources.add(g)
	}
	oldest := g.all.from
	if r.covered.IsZero() {
		r.covered = oldest
	}
	start := r.end()
	size := heldBytes(batch, g)
	r.batches = append(r.batches, heldBatch{start, batch, g, size})
	r.bytes += size
	for _, ag := range g.addrs {
		insert(r, r.byAddr, ag.addr, start, ag.at, g.inOrder)
	}
	for _, ng := range g.nets {
		insert(r, r.byNet, ng.p, start, ng.at, g.inOrder)
	}
	for len(r.batches) > 1 {
		b := r.batches[0]
		newest := b.groups.all.to
		if r.end()-r.first <= r.limit && r.bytes <= r.maxBytes && oldest.Sub(newest) <= r.span {
			break
		}
		end := b.start + len(b.evs)
		for _, ag := range b.groups.addrs {
			remove(r.byAddr, ag.addr, end, len(ag.at))
		}
		for _, ng := range b.groups.nets {
			remove(r.byNet, ng.p, end, len(ng.at))
		}
		if !newest.Before(r.covered) {
			r.covered = newest.Add(time.Nanosecond)
		}
		r.first = end
		r.bytes -= b.bytes
		r.batches = r.batches[1:]
		if r.release != nil {
			r.release(b.evs)
		}
	}
	return g
}

// positions are the positions of the held events of an address or network, in time
// order. The maps hold them by pointer, so that adding or dropping a batch's finds
// their key once.
type positions []int

// insert adds the events at (indexes in the batch that starts at position start, in
// batch order) to the positions of k in m, keeping them in time order. sorted says
// that the batch is in time order (a pass's always is): then only its first event of k
// is compared with the last held.
func insert[K comparable](r *recentEvents, m map[K]*positions, k K, start int, at []int32, sorted bool) {
	list := m[k]
	if list == nil {
		list = new(positions)
		m[k] = list
	}
	evs := r.batches[len(r.batches)-1].evs
	inOrder := true
	if len(*list) > 0 {
		inOrder = !evs[at[0]].Time.Before(r.at((*list)[len(*list)-1]).Time)
	}
	*list = slices.Grow(*list, len(at))
	for i, p := range at {
		if !sorted && i > 0 && evs[p].Time.Before(evs[at[i-1]].Time) {
			inOrder = false
		}
		*list = append(*list, start+int(p))
	}
	if !inOrder { // a batch out of order, or older than the last
		slices.SortStableFunc(*list, func(x, y int) int { return r.at(x).Time.Compare(r.at(y).Time) })
	}
}

// remove drops the n positions before end (a batch let go of) from the positions of
// k in m, and the key when none is left.
func remove[K comparable](m map[K]*positions, k K, end, n int) {
	list := m[k]
	if list == nil {
		return
	}
	l := *list
	i := 0
	for i < len(l) && i < n && l[i] < end {
		i++ // the usual case: they are the oldest, no copy
	}
	l = l[i:]
	if i < n {
		l = slices.DeleteFunc(l, func(p int) bool { return p < end })
	}
	if len(l) == 0 {
		delete(m, k)
		return
	}
	*list = l
}

// addrEvents gives the events of addr with from <= Time <= to, oldest first: the held
// ones themselves, or the store's.
func (r *recentEvents) addrEvents(addr netip.Addr, from, to time.Time) ([]*abusewatch.Event, error) {
	if from.Before(r.covered) && !r.heldFrom(addr, from) {
		evs, err := r.store.EventsByAddr(addr, from, to)
		return pointersTo(evs), err
	}
	return r.between(r.byAddr[addr.Unmap()], from, to), nil
}

// heldFrom says whether the events of addr from from on are all held, though from lies
// before covered: the memo of its network's sources knows it has none before (a flood
// of new addresses read each one's window from the store, review 29 F1).
func (r *recentEvents) heldFrom(addr netip.Addr, from time.Time) bool {
	return r.sources != nil && r.sources.firstHeld(addr.Unmap(), from, r.covered)
}

// hostsOf counts the distinct hosts of ours that the events of addr between from and to
// name, up to atLeast: from the held events, or from the store's indexes when it can
// count them without reading the events (known false when it cannot).
func (r *recentEvents) hostsOf(addr netip.Addr, from, to time.Time, atLeast int) (n int, known bool, err error) {
	if from.Before(r.covered) && !r.heldFrom(addr, from) {
		hc, ok := r.store.(interface {
			HostsOf(addr netip.Addr, from, to time.Time, atLeast int) (int, error)
		})
		if !ok {
			return 0, false, nil
		}
		n, err := hc.HostsOf(addr, from, to, atLeast)
		return n, err == nil, err
	}
	var hosts []string
	for _, e := range r.between(r.byAddr[addr.Unmap()], from, to) {
		if e.Host != "" && !slices.Contains(hosts, e.Host) {
			if hosts = append(hosts, e.Host); len(hosts) >= atLeast {
				break
			}
		}
	}
	return len(hosts), true, nil
}

// netEvents is addrEvents for network p.
func (r *recentEvents) netEvents(p netip.Prefix, from, to time.Time) ([]*abusewatch.Event, error) {
	held := false
	for _, size := range r.sizes {
		held = held || size(p.Addr()) == p
	}
	if !held || from.Before(r.covered) {
		evs, err := r.store.EventsByNetwork(p, from, to)
		return pointersTo(evs), err
	}
	return r.between(r.byNet[p], from, to), nil
}

// scopeEvents is addrEvents for a single-address p, netEvents for a network.
func (r *recentEvents) scopeEvents(p netip.Prefix, from, to time.Time) ([]*abusewatch.Event, error) {
	if p.IsSingleIP() {
		return r.addrEvents(p.Addr(), from, to)
	}
	return r.netEvents(p, from, to)
}

// firstEvents is scopeEvents up to the oldest n.
func (r *recentEvents) firstEvents(p netip.Prefix, from, to time.Time, n int) ([]*abusewatch.Event, error) {
	if from.Before(r.covered) {
		evs, err := r.store.FirstEvents(p, from, to, n)
		return pointersTo(evs), err
	}
	evs, err := r.scopeEvents(p, from, to)
	return evs[:min(n, len(evs))], err
}

// firstNaming is firstEvents of the events names keeps: the oldest n of those, read
// page by page from the store, so that any number of other events before them cannot
// crowd them out (review 21d D0: 30 dropped packets a day before one failed login,
// forged or the attacker's own scanning, filled the oldest 20 events of a /24's first
// day and its 4,096 of the days after, and its recurrence named too few addresses to
// be reported). Memory stays a page; the store is read up to the n-th kept event.
func (r *recentEvents) firstNaming(p netip.Prefix, from, to time.Time, n int, names func(*abusewatch.Event) bool) ([]*abusewatch.Event, error) {
	var out []*abusewatch.Event
	if !from.Before(r.covered) {
		evs, err := r.scopeEvents(p, from, to)
		for _, e := range evs {
			if len(out) == n {
				break
			}
			if names(e) {
				out = append(out, e)
			}
		}
		return out, err
	}
	const maxPage = 1 << 14
	page := min(max(n, 256), maxPage)
	var atFrom map[uint64]bool // the events read already at the instant from (a page ends mid-instant)
	for len(out) < n {
		evs, err := r.store.FirstEvents(p, from, to, page)
		if err != nil {
			return nil, err
		}
		fresh := false
		for i := range evs {
			e := &evs[i]
			if e.Time.Equal(from) && atFrom[e.Seq] {
				continue
			}
			fresh = true
			if names(e) && len(out) < n {
				out = append(out, e)
			}
		}
		if len(evs) < page {
			break // the range is read
		}
		last := evs[len(evs)-1].Time
		if !fresh {
			// A whole page of one instant read before: a bigger one gets past it.
			page *= 2
			continue
		}
		if !last.Equal(from) {
			from, atFrom = last, map[uint64]bool{}
		}
		for i := range evs {
			if evs[i].Time.Equal(last) {
				atFrom[evs[i].Seq] = true
			}
		}
		page = min(2*page, maxPage)
	}
	return out, nil
}

// oldestOf merges a and b (each oldest first, by time then Seq) into one list, an
// event in both once.
func oldestOf(a, b []*abusewatch.Event) []*abusewatch.Event {
	out := make([]*abusewatch.Event, 0, len(a)+len(b))
	seen := make(map[uint64]bool, len(a)+len(b))
	for _, e := range slices.Concat(a, b) {
		if !seen[e.Seq] {
			seen[e.Seq] = true
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(x, y *abusewatch.Event) int {
		return cmp.Or(x.Time.Compare(y.Time), cmp.Compare(x.Seq, y.Seq))
	})
	return out
}

// pointersTo points at each of evs.
func pointersTo(evs []abusewatch.Event) []*abusewatch.Event {
	out := make([]*abusewatch.Event, len(evs))
	for i := range evs {
		out[i] = &evs[i]
	}
	return out
}

// between returns the held events at the positions of list (in time order) with
// from <= Time <= to.
func (r *recentEvents) between(list *positions, from, to time.Time) []*abusewatch.Event {
	if list == nil {
		return nil
	}
	at := *list
	lo := sort.Search(len(at), func(i int) bool { return !r.at(at[i]).Time.Before(from) })
	hi := sort.Search(len(at), func(i int) bool { return r.at(at[i]).Time.After(to) })
	if lo >= hi {
		return nil
	}
	out := make([]*abusewatch.Event, 0, hi-lo)
	for _, i := range at[lo:hi] {
		out = append(out, r.at(i))
	}
	return out
}

// latestIncidents remembers the newest incident of each key read or made during a
// pass: in full while it may grow, then only its ID and times (what tells that it is
// closed). Most keys a pass asks about have no incident at all (an address that never
// crossed a threshold, a sweep rule's service): with the heads of the incidents the
// store held at the start (storedHeads), and the hashes of the keys made since, it
// answers them without a read, and where a key's stored incidents lie. The store's newest
// of a key may lie ahead of the pass (the address came back later): it then answers
// with the one of that time, and when the pass is past it, reads the next, so that a
// pass over a store that holds its incidents finds them instead of making them again.
type latestIncidents struct {
	mu    sync.Mutex
	store IncidentReader
	// storeAt, when the store has it, answers for a key's incident at a time before
	// its newest (store.OpenIncidentAt): a pass finds an address's visits of months
	// ago instead of making each again.
	storeAt  func(key string, since, at time.Time, whole bool) (inc abusewatch.Incident, ok, later bool, err error)
	known    map[string]knownIncident
	fulls    map[string]struct{} // the keys known in full (a few kB each)
	kept     int                 // of them, those the last forget kept (they may grow)
	seed     maphash.Seed
	heads    *storedHeads                                       // nil: any key may have an incident, ask the store
	madeKeys map[uint64]struct{}                                // hashes of the keys the pass made incidents of (the store has its writes: ask it)
	byID     func(id string) (abusewatch.Incident, bool, error) // the store's read by ID, for what heads answer whole
	grows    map[string]time.Time                               // keys whose newest incident the pass made: until when it may grow
}

// knownIncident is what the memory holds of a key's newest incident: the whole of it,
// or only its ID, times and whether a login succeeded (no pointer but the ID's, for
// the collector), or, with no ID, that the key has none.
type knownIncident struct {
	inc         *abusewatch.Incident // nil: not held whole
	id          string
	first, last int64 // UnixNano
	success     bool
	later       bool // read from the store, which holds a later incident of the key
}

// outside says whether k lies outside since to at: it ended before since or starts
// after at.
func (k knownIncident) outside(since, at time.Time) bool {
	return k.last < since.UnixNano() || k.first > at.UnixNano()
}

// head is the incident k tells of: whole, or only its ID, times and success.
func (k knownIncident) head() abusewatch.Incident {
	if k.inc != nil {
		return *k.inc
	}
	return abusewatch.Incident{ID: k.id, First: time.Unix(0, k.first).UTC(), Last: time.Unix(0, k.last).UTC(), Success: k.success}
}

// newLatestIncidents starts the memory of a pass over store; a long one (over more than
// a day) reads every incident's head, a short one only every key.
func newLatestIncidents(store IncidentReader, long bool) (*latestIncidents, error) {
	l := &latestIncidents{store: store, known: map[string]knownIncident{}, fulls: map[string]struct{}{}, seed: maphash.MakeSeed(),
		madeKeys: map[uint64]struct{}{}, grows: map[string]time.Time{}}
	if at, ok := store.(interface {
		OpenIncidentAt(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, bool, error)
	}); ok {
		l.storeAt = at.OpenIncidentAt
	}
	st, ok := store.(headReader)
	if !ok || l.storeAt == nil {
		return l, nil
	}
	l.byID = st.Incident
	var err error
	l.heads, err = loadHeads(st, l.seed, long)
	return l, err
}

// full says whether the memory should forget what it can: it holds heldIncidents more
// in full than it kept last time (an incident that may grow for a month stays), or too
// many keys.
func (l *latestIncidents) full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.fulls) > l.kept+heldIncidents || len(l.known) > knownLimit
}

func (l *latestIncidents) OpenIncident(key string, since, at time.Time, whole bool) (abusewatch.Incident, bool, error) {
	return l.open(key, since, at, whole, false)
}

// storedBefore says whether the store may have held an incident of key when the
// pass began (every reported one was): with the heads read, only the keys they hold.
func (l *latestIncidents) storedBefore(key string) bool {
	if l.heads == nil {
		return true
	}
	return l.heads.stored(maphash.String(l.seed, key))
}

// OpenIncidentHead answers as OpenIncident(key, since, at, true) does, the same
// incident, but with its ID, times and success alone unless it is held whole: the
// recurrence rule asks for the whole of an incident it grows, and most often finds
// that it holds the batch already (a pass over a store with its incidents). Asked for
// its head only, the memory may answer with an older incident of the key where the
// store holds a later one that overlaps it.
func (l *latestIncidents) OpenIncidentHead(key string, since, at time.Time) (abusewatch.Incident, bool, error) {
	return l.open(key, since, at, true, true)
}

// open is OpenIncident; headOnly, OpenIncidentHead.
func (l *latestIncidents) open(key string, since, at time.Time, whole, headOnly bool) (abusewatch.Incident, bool, error) {
	l.mu.Lock()
	var hash uint64
	fromHeads := false // the store is as it was for key: its heads answer
	if l.heads != nil {
		// Every key known was stored or made: most keys a pass asks about have no
		// incident, and a look-up of a number is cheaper than one of a string among
		// 200,000.
		hash = maphash.String(l.seed, key)
		_, made := l.madeKeys[hash]
		if !made && !l.heads.stored(hash) {
			l.mu.Unlock()
			return abusewatch.Incident{}, false, nil
		}
		fromHeads = !made
	}
	k, known := l.known[key]
	l.mu.Unlock()
	behind := known && k.later && k.last < since.UnixNano()
	switch {
	case known && k.id == "":
		return abusewatch.Incident{}, false, nil
	case behind:
		// It can no longer grow, and the store holds a later incident of the key:
		// that one, or one between, may be open now.
	case known && k.outside(since, at):
		return k.head(), false, nil
	case known && (k.inc != nil || !whole):
		return k.head(), true, nil
	}
	// Unlocked: the rules judging other keys go on meanwhile.
	read := whole && !headOnly
	var stored abusewatch.Incident
	var ok, later, held bool
	var err error
	if fromHeads {
		stored, ok, later, held, err = l.heads.openAt(hash, key, since, at, read, l.byID)
	}
	switch {
	case held:
	case l.storeAt != nil:
		stored, ok, later, err = l.storeAt(key, since, at, read)
	default:
		stored, ok, err = l.store.OpenIncident(key, since, at, read)
	}
	if err != nil {
		return stored, ok, err
	}
	if behind && stored.First.UnixNano() <= k.last {
		// The one known (maybe as the store held it before this pass changed it), or
		// one stored that overlaps it: what the pass knows stands.
		return k.head(), false, nil
	}
	l.mu.Lock()
	if behind && k.inc != nil {
		delete(l.fulls, key)
	}
	l.remember(key, stored, ok && read, later)
	l.mu.Unlock()
	return stored, ok, nil
}

// remember records inc as the newest incident of key: whole if full, only its ID,
// times and success otherwise, none if it has no ID; later, that the store holds a
// later incident of key. Unless full, key must not be known whole (OpenIncident reads
// the store only then, or for one behind the pass, which it takes out of fulls):
// fulls holds the keys known whole, and forget takes them out.
func (l *latestIncidents) remember(key string, inc abusewatch.Incident, full, later bool) {
	switch {
	case full:
		l.known[key] = knownIncident{&inc, inc.ID, inc.First.UnixNano(), inc.Last.UnixNano(), inc.Success, later}
		l.fulls[key] = struct{}{}
	case inc.ID != "":
		l.known[key] = knownIncident{nil, inc.ID, inc.First.UnixNano(), inc.Last.UnixNano(), inc.Success, later}
	default:
		l.known[key] = knownIncident{}
	}
}

// forget keeps in full only the incidents the pass made that may still grow at now:
// they may not be written yet, and the store's newest of their key may be a later one
// (made by a pass over the same events before), which would hide them. Of the others it
// keeps the ID and times, or, with too many keys held, nothing: what can no longer grow
// is judged the same when read back older, or not at all.
func (l *latestIncidents) forget(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	growing := func(key string) bool {
		until, ok := l.grows[key]
		return ok && !until.Before(now)
	}
	for key := range l.fulls {
		if !growing(key) {
			delete(l.grows, key)
			delete(l.fulls, key)
			k := l.known[key]
			k.inc = nil
			l.known[key] = k
		}
	}
	if len(l.known) > knownLimit {
		known := make(map[string]knownIncident, len(l.fulls))
		for key := range l.fulls {
			known[key] = l.known[key]
		}
		l.known = known
	}
	l.kept = len(l.fulls)
}

// made records incidents the pass made or grew (and stores), each of which may grow
// for growth(its rule) after its last event.
func (l *latestIncidents) made(incs []abusewatch.Incident, growth func(rule string) time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, inc := range incs {
		// What the store said of later incidents holds for the pass's own too.
		l.remember(inc.Key, inc, true, l.known[inc.Key].later)
		l.grows[inc.Key] = inc.Last.Add(growth(inc.Rule))
		if l.heads != nil {
			l.madeKeys[maphash.String(l.seed, inc.Key)] = struct{}{}
		}
	}
}
