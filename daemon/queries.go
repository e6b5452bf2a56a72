package daemon

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
	"github.com/abusewatch/abusewatch/store"
)

// The read-only questions the admin subcommands ask. The daemon answers them over the
// admin socket; with no daemon running the commands ask the store file directly, so the
// answers are the same either way.

// IncidentInfo is an incident with where its report is. Its JSON is snake_case, as all
// the commands' JSON (incident_json.go): abusewatch.Incident has no tags.
type IncidentInfo struct {
	abusewatch.Incident
	IncidentFate
}

// IncidentFate is where an incident's report is, or why it has none.
type IncidentFate struct {
	ReportID    string                 `json:"report_id,omitempty"`
	ReportState abusewatch.ReportState `json:"report_state,omitempty"`
	ReportTo    []string               `json:"report_to,omitempty"`
	Location    string                 `json:"report_location,omitempty"`
	// Of a network incident split among parties, the other parties' reports (not
	// rejected), oldest first: each party's share is a report of its own.
	Shares []ReportShare `json:"report_shares,omitempty"`
	// Without a report: why it is not reported outside ("": nothing holds it back, its
	// report is written at the outbox's next round), and the same as a stable code
	// for scripts (Unreported.Reason: "pending" when nothing holds it back).
	Unreported     string `json:"unreported,omitempty"`
	UnreportedCode string `json:"unreported_code,omitempty"`
}

// IncidentList is the newest of the incidents active since a time, and how many there
// are in all.
type IncidentList struct {
	Incidents []IncidentInfo `json:"incidents"`
	Total     int            `json:"total"`
	// With none since the time asked for: when the newest stored incident began, so
	// the admin knows how far back to ask (the demo's incidents are days old).
	NewestBegan *time.Time `json:"newest_began,omitempty"`
}

// DefaultIncidentLimit is how many incidents `incidents` shows unless told: a busy host
// makes hundreds of thousands in the months it keeps, and all of them with their
// evidence were gigabytes in the memory of the daemon that answered.
const DefaultIncidentLimit = 1000

// QueryIncidents returns the newest limit (0: all) of the incidents whose last event is
// at or after since, newest first, each with its report or why says why it has none.
func QueryIncidents(st *store.Store, since time.Time, limit int, why *Unreported) (IncidentList, error) {
	all, total, err := st.IncidentsSince(since, limit)
	if err != nil {
		return IncidentList{}, err
	}
	out := IncidentList{Incidents: []IncidentInfo{}, Total: total}
	if len(all) == 0 {
		first, ok, err := st.NewestIncidentStart()
		if err != nil {
			return out, err
		}
		if ok {
			out.NewestBegan = &first
		}
	}
	shares := &reportIndex{st: st}
	for _, inc := range all {
		info, err := withReport(st, inc, why, shares)
		if err != nil {
			return IncidentList{}, err
		}
		out.Incidents = append(out.Incidents, info)
	}
	slices.SortStableFunc(out.Incidents, func(a, b IncidentInfo) int { return b.Last.Compare(a.Last) })
	return out, nil
}

// ReportShare is a party's report of its share of a split network incident.
type ReportShare struct {
	ID       string                 `json:"report_id"`
	State    abusewatch.ReportState `json:"report_state"`
	To       []string               `json:"report_to"`
	Location string                 `json:"report_location,omitempty"`
}

// reportIndex finds the reports of the other parties of a split network incident: every
// stored report under each incident it names, read once, when first asked.
type reportIndex struct {
	st *store.Store
	by map[string][]abusewatch.Report
}

// others are the reports naming network incident inc but the one with ID primary, and
// those rejected, oldest first; none for an incident of one address.
func (x *reportIndex) others(inc abusewatch.Incident, primary string) ([]abusewatch.Report, error) {
	if !inc.AboutNetwork() {
		return nil, nil
	}
	if x.by == nil {
		all, err := x.st.Reports()
		if err != nil {
			return nil, err
		}
		x.by = map[string][]abusewatch.Report{}
		for _, r := range all {
			for _, id := range r.Incidents {
				x.by[id] = append(x.by[id], r)
			}
		}
	}
	var out []abusewatch.Report
	for _, r := range x.by[inc.ID] {
		if r.ID != primary && r.State != abusewatch.ReportRejected {
			out = append(out, r)
		}
	}
	return out, nil
}

// WithReports fills in the report of each of incs that has one, and of a network
// incident split among parties the other parties' (shares), as incidents shows them:
// `correlate` lists an incident made again (a pardoned address's, one whose report went
// or was rejected) with the report it keeps, none being written for it again.
func WithReports(st *store.Store, incs []IncidentInfo) error {
	shares := &reportIndex{st: st}
	for i := range incs {
		info, err := withReport(st, incs[i].Incident, nil, shares)
		if err != nil {
			return err
		}
		if info.ReportID != "" {
			incs[i].IncidentFate = info.IncidentFate
		}
	}
	return nil
}

// withReport is inc with its report and the other parties' (shares), or why (unless
// nil) it has none.
func withReport(st *store.Store, inc abusewatch.Incident, why *Unreported, shares *reportIndex) (IncidentInfo, error) {
	info := IncidentInfo{Incident: inc}
	id, ok, err := st.ReportFor(inc.ID)
	if err != nil || !ok {
		if err == nil {
			info.UnreportedCode, info.Unreported = why.Reason(inc)
		}
		return info, err
	}
	r, ok, err := st.Report(id)
	if err != nil || !ok {
		return info, err
	}
	info.ReportID, info.ReportState, info.ReportTo, info.Location = r.ID, r.State, r.Contact.Emails, r.Location
	others, err := shares.others(inc, r.ID)
	for _, o := range others {
		info.Shares = append(info.Shares, ReportShare{ID: o.ID, State: o.State, To: o.Contact.Emails, Location: o.Location})
	}
	return info, err
}

// NetworkInfo is what is known about an address or a network.
type NetworkInfo struct {
	Network        string         `json:"network"`
	Since          time.Time      `json:"since"`
	Events         int            `json:"events"`
	ByClass        map[string]int `json:"by_class"`
	ByDay          []DayCount     `json:"by_day"`    // days in DayZone
	DayZone        string         `json:"day_zone"`  // reporter.timezone, as every time is shown
	Addresses      []AddrCount    `json:"addresses"` // the busiest addresses, for a network
	Hosts          map[string]int `json:"hosts_hit"`
	Last           *EventInfo     `json:"last_event,omitempty"` // none without events
	Incidents      []IncidentInfo `json:"incidents"`            // the newest maxIncidentsShown
	IncidentsTotal int            `json:"incidents_total"`      // all of them since Since

	// Every report in the outbox that names the address or network (or a network
	// around it), whenever it was written and whether or not its incidents are still
	// stored ([retention] incidents deletes them; their reports stay), oldest first.
	Reports []ReportInfo `json:"reports"`

	Excluded *ExclusionInfo `json:"excluded,omitempty"`
	// The times it was excluded and no longer is (`exclude --remove`), by an exclusion of
	// it, of a network around it or, of a network, of a part of it, oldest first: its
	// lines dated or read then are never reported (correlate.HeldBack), which its events
	// above still count.
	PastExclusions []PastExclusionInfo `json:"past_exclusions"`
	// Why nothing from it is ever reported, when nothing is (a private network,
	// policy.never_report, an exclusion): Unreported.Network.
	NeverReported string `json:"never_reported,omitempty"`

	// The events of the range whose raw events retention deleted ([retention] events),
	// from the daily counters ([retention] counters): counts by class, no lines; of a
	// day retention cut into, the part it deleted. Only for an address or a /24, /16, /8
	// (IPv6 /64, /48, /32), the sizes that are counted. These are UTC days: the counters
	// are kept by UTC day, whatever reporter.timezone says.
	CountedEvents int        `json:"counted_events"`
	CountedByDay  []DayCount `json:"counted_by_day"`
	// Set when the first counted day begins before Since and its deleted events may
	// lie on both sides of it: the counters cannot split a day, so it is counted whole,
	// from this time (its start, UTC).
	CountedFrom *time.Time `json:"counted_from,omitempty"`
	// The first day (UTC) anything of is kept, when the range begins before it:
	// [retention] counters deleted the days before (nil: the range is all known).
	KnownFrom *time.Time `json:"known_from,omitempty"`
	// For a network of a size that is not counted, when retention deleted raw events of
	// the range: what is missing, and which network to ask about instead.
	NotCounted string `json:"not_counted,omitempty"`
}

// ReportInfo is a report of the outbox, as `ip` and `net` list it.
type ReportInfo struct {
	ID        string                 `json:"id"`
	State     abusewatch.ReportState `json:"state"`
	To        []string               `json:"to"`
	Subject   string                 `json:"subject"`
	Created   time.Time              `json:"created"`
	Updated   time.Time              `json:"updated"`
	Location  string                 `json:"location,omitempty"`
	Incidents []string               `json:"incidents"`
	// How many of Incidents are still stored: retention deletes incidents, not reports.
	IncidentsKept int `json:"incidents_kept"`
}

// DayCount is the events of one day, by class.
type DayCount struct {
	Day     string         `json:"day"` // YYYY-MM-DD: in NetworkInfo.DayZone (by_day), in UTC (counted_by_day)
	ByClass map[string]int `json:"by_class"`
}

// AddrCount is one address's number of events.
type AddrCount struct {
	Addr   string `json:"addr"`
	Events int    `json:"events"`
}

// maxIncidentsShown is how many of a network's incidents QueryNetwork lists, the newest.
const maxIncidentsShown = 100

// QueryNetwork returns what is known about network p (an address is a /32 or /128) from
// since to now, its incidents each with its report or why says why it has none. Any prefix length is accepted: the nearest stored index (/24, /16, /8,
// IPv6 /64, /48, /32) is read and filtered. The events are counted by day in loc, the
// zone the commands show every time in (reporter.timezone): by UTC day, an evening's
// attack in the Americas was shown on the next day, beside its incident on the right one.
func QueryNetwork(st *store.Store, p netip.Prefix, since, now time.Time, loc *time.Location, why *Unreported) (NetworkInfo, error) {
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-(p.Addr().BitLen()-p.Addr().Unmap().BitLen())).Masked()
	if loc == nil {
		loc = time.UTC
	}
	info := NetworkInfo{Network: p.String(), Since: since, DayZone: loc.String()}
	// The blocks' indexes hold the time, address, class and host of every event: enough
	// for the counts, without decompressing months of log lines. The two halves of the
	// time are read at once: months of a busy /24 are thousands of blocks, whose pages
	// a first question faults in one by one.
	halves := [2]glanceSums{{zone: dayZone{loc: loc}}, {zone: dayZone{loc: loc}}}
	mid := since.Add(now.Sub(since) / 2).Truncate(time.Hour) // no hour's blocks read twice
	if !mid.After(since) {
		mid = now.Add(time.Nanosecond) // a short range: the first half is all of it
	}
	// The network's incidents are read meanwhile too: a busy /24's are tens of
	// thousands, of which the newest are read whole.
	var early, incErr error
	var incs []abusewatch.Incident
	var wg sync.WaitGroup
	wg.Go(func() { early = st.Glances(p, since, mid.Add(-time.Nanosecond), halves[0].add) })
	wg.Go(func() { incs, info.IncidentsTotal, incErr = st.IncidentsIn(p, since, maxIncidentsShown) })
	err := st.Glances(p, mid, now, halves[1].add)
	wg.Wait()
	if err = cmp.Or(early, incErr, err); err != nil {
		return info, err
	}
	halves[0].merge(&halves[1])
	sums := &halves[0]
	info.Events, info.ByClass, info.Hosts = sums.events, sums.byClass, sums.hosts
	days, addrs, last := sums.days, sums.addrs, sums.last
	if info.Events > 0 {
		// The newest event in full, from the blocks of its hour only.
		evs, err := st.EventsByNetwork(p, last.Truncate(time.Microsecond), last.Add(time.Microsecond))
		if err != nil {
			return info, err
		}
		if len(evs) > 0 {
			e := evs[len(evs)-1]
			e.Line, e.User = sanitizeText(e.Line), sanitizeText(e.User) // printed to a terminal
			info.Last = &EventInfo{e}
		}
	}
	for _, day := range slices.Sorted(maps.Keys(days)) {
		info.ByDay = append(info.ByDay, DayCount{Day: time.Unix(day*86400, 0).UTC().Format(time.DateOnly), ByClass: days[day]})
	}
	if !p.IsSingleIP() {
		for a, n := range addrs {
			info.Addresses = append(info.Addresses, AddrCount{Addr: a.String(), Events: n})
		}
		slices.SortFunc(info.Addresses, func(a, b AddrCount) int {
			return cmp.Or(cmp.Compare(b.Events, a.Events), cmp.Compare(a.Addr, b.Addr))
		})
		info.Addresses = info.Addresses[:min(len(info.Addresses), 20)]
	}
	if err := addCounted(st, p, since, now, sums.utcDays, &info); err != nil {
		return info, err
	}
	incs, added, err := withIncidentsAround(st, p, since, incs)
	if err != nil {
		return info, err
	}
	info.IncidentsTotal += added
	shares := &reportIndex{st: st}
	for _, inc := range incs {
		ii, err := withReport(st, inc, why, shares)
		if err != nil {
			return info, err
		}
		info.Incidents = append(info.Incidents, ii)
	}
	if info.Reports, err = reportsNaming(st, p); err != nil {
		return info, err
	}
	ex, err := st.Exclusions()
	if err != nil {
		return info, err
	}
	for _, e := range ex {
		if e.Network.Contains(p.Addr()) && e.Network.Bits() <= p.Bits() {
			ei := exclusionInfo(e)
			info.Excluded = &ei
		}
	}
	if info.PastExclusions, err = pastExclusionsOf(st, p); err != nil {
		return info, err
	}
	info.NeverReported = why.Network(p)
	// Empty lists are [], as in every JSON of the commands: a script's .incidents[]
	// failed on null.
	info.ByDay, info.Addresses, info.Incidents, info.CountedByDay = orEmpty(info.ByDay), orEmpty(info.Addresses), orEmpty(info.Incidents), orEmpty(info.CountedByDay)
	info.Reports, info.PastExclusions = orEmpty(info.Reports), orEmpty(info.PastExclusions)
	return info, nil
}

// PastExclusionInfo is a time a network was excluded (or pardoned) and no longer is,
// as `ip` and `net` list it.
type PastExclusionInfo struct {
	Network netip.Prefix `json:"network"`
	By      string       `json:"by"` // "exclude" or "pardon"
	Reason  string       `json:"reason,omitempty"`
	// From (zero: since ever, an exclusion recorded by a version that did not keep its
	// start) to To, its removal: the lines dated then, or read then whatever their
	// date, count toward no incident.
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to"`
}

// pastExclusionsOf returns the past exclusions of p, of a network around it and of a
// network within it, oldest removal first. Without them the admin who undid an
// exclusion saw the lines of that time counted in `ip` and `net` and no word of why
// they are in no incident.
func pastExclusionsOf(st *store.Store, p netip.Prefix) ([]PastExclusionInfo, error) {
	past, err := st.PastExclusions()
	if err != nil {
		return nil, err
	}
	var out []PastExclusionInfo
	for _, e := range past {
		if !e.Network.Overlaps(p) {
			continue
		}
		by := "exclude"
		if e.Pardon {
			by = "pardon"
		}
		out = append(out, PastExclusionInfo{Network: e.Network, By: by, Reason: e.Reason, From: e.From, To: e.To})
	}
	slices.SortStableFunc(out, func(a, b PastExclusionInfo) int {
		return cmp.Or(a.To.Compare(b.To), a.From.Compare(b.From), cmp.Compare(a.Network.String(), b.Network.String()))
	})
	return out, nil
}

// reportsNaming returns the reports of the outbox that name p: by an incident of theirs
// still stored (its address, network or sources), by the source their subject names,
// or, their incidents deleted, by the sources of their X-ARF parts while their mail is
// kept. The incidents alone lost every report once [retention] incidents deleted them.
func reportsNaming(st *store.Store, p netip.Prefix) ([]ReportInfo, error) {
	rs, err := st.Reports()
	if err != nil {
		return nil, err
	}
	var out []ReportInfo
	for _, r := range rs {
		hit, kept := namesSource(p, subjectSource(r.Subject)), 0
		for _, id := range r.Incidents {
			inc, ok, err := st.Incident(id)
			if err != nil {
				return nil, err
			}
			if ok {
				kept++
				hit = hit || incidentNames(inc, p)
			}
		}
		if !hit && kept < len(r.Incidents) && strings.Contains(r.Subject, " other source") {
			// Some of its sources are in neither the subject nor a stored incident.
			full, ok, err := st.Report(r.ID)
			if err != nil {
				return nil, err
			}
			for _, src := range xarfSources(full.Message) {
				hit = hit || (ok && namesSource(p, src))
			}
		}
		if hit {
			out = append(out, ReportInfo{ID: r.ID, State: r.State, To: r.Contact.Emails, Subject: r.Subject, Created: r.Created,
				Updated: r.Updated, Location: r.Location, Incidents: orEmpty(r.Incidents), IncidentsKept: kept})
		}
	}
	slices.SortStableFunc(out, func(a, b ReportInfo) int { return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// incidentNames says whether inc is about p: its address, one of its sources, or its
// network, is in p, or its network holds p.
func incidentNames(inc abusewatch.Incident, p netip.Prefix) bool {
	if a := inc.Addr.Unmap(); a.IsValid() && p.Contains(a) {
		return true
	}
	if n := abusewatch.UnmapPrefix(inc.Network); n.IsValid() && (inc.AboutNetwork() || !inc.Addr.IsValid()) && n.Overlaps(p) {
		return true
	}
	return slices.ContainsFunc(inc.Sources, func(a netip.Addr) bool { return p.Contains(a.Unmap()) })
}

// namesSource says whether src (an address or a network, as Incident.Source gives it)
// is in p or holds it.
func namesSource(p netip.Prefix, src string) bool {
	if a, err := netip.ParseAddr(src); err == nil {
		return p.Contains(a.Unmap())
	}
	if n, err := netip.ParsePrefix(src); err == nil {
		return abusewatch.UnmapPrefix(n).Overlaps(p)
	}
	return false
}

// subjectSource is the first source a report's subject names ("Abuse report: … from
// SOURCE[ and N other sources]").
func subjectSource(subject string) string {
	_, after, ok := strings.Cut(subject, " from ")
	if !ok {
		return ""
	}
	src, _, _ := strings.Cut(after, " ")
	return src
}

// xarfSources are the sources of a report's X-ARF parts, from their headers
// ("Content-Description: X-ARF 4 report: login_attack from SOURCE").
func xarfSources(msg []byte) []string {
	var out []string
	for line := range strings.Lines(string(msg)) {
		if rest, ok := strings.CutPrefix(line, "Content-Description: X-ARF "); ok {
			if i := strings.LastIndex(rest, " from "); i >= 0 {
				out = append(out, strings.TrimSpace(rest[i+len(" from "):]))
			}
		}
	}
	return out
}

// withIncidentsAround adds to incs (p's, as IncidentsIn found them) the incidents about a
// network around p whose last event is at or after since: such an incident names one
// address of its network, maybe not in p. It returns them all, first seen first, and how
// many it added.
func withIncidentsAround(st *store.Store, p netip.Prefix, since time.Time, incs []abusewatch.Incident) ([]abusewatch.Incident, int, error) {
	around, err := st.IncidentsOfKeys(correlate.KeysAround(p), since)
	if err != nil {
		return incs, 0, err
	}
	added := 0
	for _, inc := range around {
		if !slices.ContainsFunc(incs, func(i abusewatch.Incident) bool { return i.ID == inc.ID }) {
			incs = append(incs, inc)
			added++
		}
	}
	slices.SortStableFunc(incs, func(a, b abusewatch.Incident) int { return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.ID, b.ID)) })
	return incs, added, nil
}

// glanceSums adds up the glances of a network's events.
type glanceSums struct {
	events         int
	byClass, hosts map[string]int
	days           map[int64]map[string]int // by day since 1970 in zone (formatted once, at the end)
	utcDays        map[int64]map[string]int // by UTC day since 1970, as the daily counters count
	zone           dayZone
	addrs          map[netip.Addr]int
	last           time.Time
}

// dayZone numbers the days of a zone, keeping the offset of the last time asked for and
// the times it holds for: a network's glances are hundreds of thousands, in order.
type dayZone struct {
	loc        *time.Location
	off        int64
	start, end time.Time // zero: the offset holds since (or until) forever
	known      bool
}

// day is the number of t's day in the zone (UTC when it has no location) since
// 1970-01-01.
func (z *dayZone) day(t time.Time) int64 {
	if !z.known || (!z.start.IsZero() && t.Before(z.start)) || (!z.end.IsZero() && !t.Before(z.end)) {
		lt := t.UTC()
		if z.loc != nil {
			lt = t.In(z.loc)
		}
		_, off := lt.Zone()
		z.off, z.known = int64(off), true
		z.start, z.end = lt.ZoneBounds()
	}
	u := t.Unix() + z.off
	if u < 0 {
		return (u - 86399) / 86400
	}
	return u / 86400
}

func (s *glanceSums) add(g store.Glance) {
	s.init()
	s.events += g.N
	s.byClass[string(g.Class)] += g.N
	day := s.zone.day(g.Time)
	if s.days[day] == nil {
		s.days[day] = map[string]int{}
	}
	s.days[day][string(g.Class)] += g.N
	addDay(s.utcDays, g.Time.Unix()/86400, string(g.Class), g.N)
	s.addrs[g.Addr] += g.N
	if g.Host != "" {
		s.hosts[g.Host] += g.N
	}
	s.last = maxTime(s.last, g.Time)
}

// init makes the maps of s, the first time.
func (s *glanceSums) init() {
	if s.byClass == nil {
		s.byClass, s.hosts, s.days, s.addrs = map[string]int{}, map[string]int{}, map[int64]map[string]int{}, map[netip.Addr]int{}
		s.utcDays = map[int64]map[string]int{}
	}
}

// addDay adds n events of class to day of days.
func addDay(days map[int64]map[string]int, day int64, class string, n int) {
	if days[day] == nil {
		days[day] = map[string]int{}
	}
	days[day][class] += n
}

// merge adds o to s.
func (s *glanceSums) merge(o *glanceSums) {
	s.init()
	s.events += o.events
	for k, n := range o.byClass {
		s.byClass[k] += n
	}
	for k, n := range o.hosts {
		s.hosts[k] += n
	}
	for day, m := range o.days {
		if s.days[day] == nil {
			s.days[day] = map[string]int{}
		}
		for k, n := range m {
			s.days[day][k] += n
		}
	}
	for day, m := range o.utcDays {
		for k, n := range m {
			addDay(s.utcDays, day, k, n)
		}
	}
	for a, n := range o.addrs {
		s.addrs[a] += n
	}
	s.last = maxTime(s.last, o.last)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// addCounted adds to info, from the daily counters, the events of p in [since, now]
// whose raw events are no longer kept: of each UTC day (the counters' days), what its
// counters hold beyond the raw events kept of the whole day. Retention cuts the raw
// events at an hour, so the day it cut into has both; a late old event (a rotated log
// scanned later) leaves the days after it without raw events, not without events.
// raw is the raw events of the range by UTC day. The counters cannot split a day: the
// counted part of the day of since is left out when retention cut it before since,
// taken whole and said so (CountedFrom) when they may overlap.
func addCounted(st *store.Store, p netip.Prefix, since, now time.Time, raw map[int64]map[string]int, info *NetworkInfo) error {
	// Before the first day the counters keep, nothing is known: those days read as
	// quiet ones beside incidents of them.
	if from, ok, err := st.CountersKeptFrom(); err != nil {
		return err
	} else if ok && since.Before(from) {
		info.KnownFrom = &from
	}
	if !store.CountedSize(p) {
		return notCounted(st, p, since, now, info)
	}
	days, err := st.Days(p, since, now)
	if err != nil || len(days) == 0 {
		return err
	}
	// The raw events of the first and last day outside the range, so that a day's
	// counters are set against all it keeps.
	var edges glanceSums
	first, last := since.UTC().Truncate(24*time.Hour), now.UTC().Truncate(24*time.Hour).Add(24*time.Hour)
	if err := st.Glances(p, first, since.Add(-time.Nanosecond), edges.add); err != nil {
		return err
	}
	if err := st.Glances(p, now.Add(time.Nanosecond), last.Add(-time.Nanosecond), edges.add); err != nil {
		return err
	}
	for _, d := range days {
		day := d.Start.Unix() / 86400
		gone := map[string]int{}
		n := 0
		for class, c := range d.ByClass {
			if k := c - raw[day][string(class)] - edges.utcDays[day][string(class)]; k > 0 {
				gone[string(class)] = k
				n += k
			}
		}
		if n == 0 {
			continue
		}
		if d.Start.Before(since) {
			where, err := cutAround(st, d.Start, since)
			if err != nil {
				return err
			}
			if where < 0 {
				continue // the raw events of the range are all there
			}
			if where == 0 {
				from := d.Start
				info.CountedFrom = &from
			}
		}
		info.CountedByDay = append(info.CountedByDay, DayCount{Day: d.Start.Format(time.DateOnly), ByClass: gone})
		info.CountedEvents += n
	}
	return nil
}

// cutAround says where the raw events retention deleted of the UTC day that starts at
// day lie against since, within that day: -1 all before since, 1 all after, 0 on both
// sides or unknown. It sets the hourly counters of every event against the raw events
// kept of each hour: the hours that lack some are those retention cut into.
func cutAround(st *store.Store, day, since time.Time) (int, error) {
	end := day.Add(24*time.Hour - time.Nanosecond)
	counted, err := st.Hours(day, end)
	if err != nil {
		return 0, err
	}
	kept, err := st.RawHours(day, end)
	if err != nil {
		return 0, err
	}
	before, after := false, false
	for _, h := range counted {
		n := 0
		for _, c := range h.ByClass {
			n += c
		}
		if n <= kept[h.Start] {
			continue
		}
		switch {
		case !h.Start.Add(time.Hour).After(since):
			before = true
		case !h.Start.Before(since):
			after = true
		default:
			before, after = true, true
		}
	}
	switch {
	case before && !after:
		return -1, nil
	case after && !before:
		return 1, nil
	}
	return 0, nil
}

// notCounted says in info, for a network of a size the counters do not count, when
// retention has deleted raw events of the range: the days before them are not known.
func notCounted(st *store.Store, p netip.Prefix, since, now time.Time, info *NetworkInfo) error {
	counted, err := st.Hours(since, now)
	if err != nil || len(counted) == 0 {
		return err
	}
	kept, err := st.RawHours(since, now)
	if err != nil {
		return err
	}
	for _, h := range counted {
		n := 0
		for _, c := range h.ByClass {
			n += c
		}
		if n > kept[h.Start] {
			info.NotCounted = fmt.Sprintf("retention deleted the raw events before %s, and the daily counters count only an address or a %s: ask about %s for the days before",
				h.Start.Add(time.Hour).Format("2006-01-02 15:00 UTC"), countedSizes(p), enclosingCounted(p))
		}
	}
	return nil
}

// countedSizes names the network sizes the daily counters count, of p's family.
func countedSizes(p netip.Prefix) string {
	if p.Addr().Is6() {
		return "/64, /48, /32"
	}
	return "/24, /16, /8"
}

// enclosingCounted is the smallest counted network holding p, or p's addresses.
func enclosingCounted(p netip.Prefix) string {
	for _, b := range []int{24, 16, 8} {
		if p.Addr().Is6() {
			b = map[int]int{24: 64, 16: 48, 8: 32}[b]
		}
		if b < p.Bits() {
			q, _ := p.Addr().Prefix(b)
			return q.String()
		}
	}
	return "its addresses or smaller networks"
}

// ParseSince reads a --since: a duration back from now ("36h", "7d"), an RFC 3339
// time, or a date or date and time without an offset ("2026-11-01",
// "2026-11-01T22:00:00", "2026-11-01 22:00"), read in loc. The commands pass the zone
// they show times in (reporter.timezone), so a time they print can be given back as
// it reads: read in UTC, "--since 2026-12-06" showed as 01:00 in Berlin.
//
// A time later than now (beyond SinceSkew) is refused: nothing has happened since then,
// so every command would answer "nothing", and `scan` would skip every line of its files
// and save their positions past them, losing them for good.
func ParseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	t, err := parseSince(s, now, loc)
	if err == nil && t.After(now.Add(SinceSkew)) {
		at := now.In(loc).Format("2006-01-02 15:04 -0700")
		if loc != time.Local {
			at += " " + loc.String()
		}
		return time.Time{}, fmt.Errorf("--since %q: that is in the future (now %s): give a time before now, or a duration back from now (\"7d\")", s, at)
	}
	return t, err
}

// SinceSkew is how far past now a --since may lie: the commands send the daemon the
// time they read, and the clocks of a client and a daemon a moment apart differ a little.
const SinceSkew = 5 * time.Minute

func parseSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if d, err := ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02T15:04:05", time.DateTime, "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	zone := loc.String()
	if loc == time.Local {
		zone = "the machine's zone"
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration back from now (\"36h\", \"7d\"), a date (\"2026-11-01\"), "+
		"a date and time (\"2026-11-01T22:00:00\"; both read in reporter.timezone, %s) or an RFC 3339 time with its offset", s, zone)
}

// ReportedIncidentsIn counts the incidents a pardon of p forgets (its addresses', and
// those about networks inside it) whose report has left or may have (sent, sending),
// and returns the IDs of those reports. The pardon says so: forgetting the incidents
// does not call back what the abuse desk has, and `ip` no longer shows it.
func ReportedIncidentsIn(st *store.Store, p netip.Prefix) (incidents int, reports []string, err error) {
	p = abusewatch.UnmapPrefix(p)
	rs, err := st.Reports(abusewatch.ReportSent, abusewatch.ReportSending)
	if err != nil {
		return 0, nil, err
	}
	seen := map[string]bool{}
	for _, r := range rs {
		hit := false
		for _, id := range r.Incidents {
			inc, ok, err := st.Incident(id)
			if err != nil {
				return 0, nil, err
			}
			if !ok || !incidentWithin(inc, p) {
				continue
			}
			hit = true
			if !seen[id] {
				seen[id] = true
				incidents++
			}
		}
		if hit {
			reports = append(reports, r.ID)
		}
	}
	return incidents, reports, nil
}

// incidentWithin says whether a pardon of p forgets inc, as the store decides it: an
// address's incident when the address is in p, a network's when the network is.
func incidentWithin(inc abusewatch.Incident, p netip.Prefix) bool {
	if n := abusewatch.UnmapPrefix(inc.Network); !inc.Addr.IsValid() || inc.AboutNetwork() {
		return n.IsValid() && n.Bits() >= p.Bits() && p.Contains(n.Addr())
	}
	return p.Contains(inc.Addr.Unmap())
}
