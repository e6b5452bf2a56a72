package daemon

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer"
	"github.com/abusewatch/abusewatch/store"
)

// earlierSteps is how many incidents of a key before a report's first one are looked
// at for a report (as afterReport does): a chain of follow-ups holds one reported after
// another, with a few not reported (admin-only, held) between.
const earlierSteps = 8

// earlierRead bounds the earlier reports read for one report, of each party: each is
// read with its message, and a recurrence may take in the lines of hundreds of reported
// bursts. The newest are read first; the composer names the newest that went to the
// same party. It counts per party: of a network incident split among parties, each
// party's share is a report, and the others' shares would crowd out its own.
const earlierRead = 16

// earlierReadAll bounds the earlier reports read for one report, of every party.
const earlierReadAll = 4 * earlierRead

// earlierReports are the reports sent before about incidents that incs follow, grow
// from or repeat (mailer.Known.Earlier): of each key of incs, those of the incidents
// before its first one in incs (a follow-up of a reported incident, the same attack
// back after a gap), then those of reported (the incidents with a report whose lines
// incs take in: Known.Reported), newest first; report except (being written again, or
// previewed) aside. Of an incident, every report of it (store.ReportsOf): a network
// incident split among parties has each party's share, and each party's follow-up
// threads to its own (review 48 M2; ReportFor keeps one, and the others' follow-ups
// named no report). Sent ones only, as stored, with their messages: the mailer picks
// the one to the same party and reads its References.
func earlierReports(st *store.Store, incs, reported []abusewatch.Incident, except string) ([]abusewatch.Report, error) {
	own := map[string]bool{}
	first := map[string]abusewatch.Incident{} // by key, the first of incs
	for _, inc := range incs {
		own[inc.ID] = true
		if f, ok := first[inc.Key]; inc.Key != "" && (!ok || inc.First.Before(f.First)) {
			first[inc.Key] = inc
		}
	}
	var candidates []abusewatch.Incident // incidents before, newest first within each kind
	for _, key := range slices.Sorted(maps.Keys(first)) {
		at := first[key].First.Add(-time.Nanosecond)
		for range earlierSteps {
			prev, _, _, err := st.OpenIncidentAt(key, at, at, false)
			if err != nil {
				return nil, err
			}
			if prev.ID == "" || prev.First.After(at) {
				break
			}
			if !own[prev.ID] {
				candidates = append(candidates, prev)
			}
			at = prev.First.Add(-time.Nanosecond)
		}
	}
	byLast := slices.Clone(reported)
	slices.SortStableFunc(byLast, func(a, b abusewatch.Incident) int { return cmp.Or(b.Last.Compare(a.Last), cmp.Compare(a.ID, b.ID)) })
	candidates = append(candidates, byLast...)

	var out []abusewatch.Report
	seen := map[string]bool{}
	read := map[string]int{} // by party (partyOf), how many were read
	for _, inc := range candidates {
		if len(out) == earlierReadAll {
			break
		}
		if own[inc.ID] {
			continue
		}
		rs, err := st.ReportsOf(inc.ID) // without their messages, oldest first
		if err != nil {
			return nil, err
		}
		for _, r := range slices.Backward(rs) {
			if r.ID == except || seen[r.ID] || r.State != abusewatch.ReportSent {
				continue
			}
			seen[r.ID] = true
			party := partyOf(r.Contact)
			if read[party] == earlierRead || len(out) == earlierReadAll {
				continue
			}
			read[party]++
			full, found, err := st.Report(r.ID) // with its message
			if err != nil {
				return nil, err
			}
			if found && full.State == abusewatch.ReportSent {
				out = append(out, full)
			}
		}
	}
	return out, nil
}

// partyOf names the party of contact as the mailer tells parties apart (its own
// mailboxes, not a national CERT's copy: mailer.PartyEmails), in lower case and sorted.
func partyOf(contact abusewatch.Contact) string {
	emails := mailer.PartyEmails(contact)
	key := make([]string, len(emails))
	for i, e := range emails {
		key[i] = strings.ToLower(strings.TrimSpace(e))
	}
	slices.Sort(key)
	return strings.Join(slices.Compact(key), "\x00")
}
