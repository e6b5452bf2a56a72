package daemon

import (
	"net/http"

	"github.com/abusewatch/abusewatch/store"
)

// SettlingCount is how many incidents wait for policy.settle before their reports are
// written (GET /v1/outbox/settling): `outbox` says so, since an outbox empty minutes
// after an attack reads as nothing to report.
type SettlingCount struct {
	Incidents int `json:"incidents"`
}

// settlingBatch is how many incidents of the work list Settling reads at a time.
const settlingBatch = 2000

// Settling counts the incidents on the outbox's work list that why says wait for
// policy.settle (UnreportedSettling). It reads the list a batch at a time, as the
// rounds do: after `correlate` over months it may hold many thousands.
func Settling(st *store.Store, why *Unreported) (SettlingCount, error) {
	return settling(st, why, settlingBatch)
}

// settling is Settling reading batch incidents at a time.
func settling(st *store.Store, why *Unreported, batch int) (SettlingCount, error) {
	var c SettlingCount
	if why == nil || why.settle <= 0 {
		return c, nil
	}
	// Each batch goes on from where the last stopped, and one that reaches the list's
	// end goes on from its start (UnreportedIncidents): the batch that comes round to
	// IDs read before is the last.
	seen := map[string]bool{}
	for after := ""; ; {
		incs, next, err := st.UnreportedIncidents(after, batch)
		if err != nil {
			return c, err
		}
		for _, inc := range incs {
			if seen[inc.ID] {
				continue
			}
			seen[inc.ID] = true
			if code, _ := why.Reason(inc); code == UnreportedSettling {
				c.Incidents++
			}
		}
		if next == "" || (after != "" && next <= after) {
			return c, nil
		}
		after = next
	}
}

// serveSettling answers GET /v1/outbox/settling with the running pipeline's count.
func (d *Daemon) serveSettling(w http.ResponseWriter, r *http.Request) {
	why, err := d.unreported()
	var c SettlingCount
	if err == nil {
		c, err = Settling(d.store, why)
	}
	reply(w, c, err)
}
