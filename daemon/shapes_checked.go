package daemon

import (
	"net/http"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// CheckedShapes are the stored unknown shapes, each sample classified again with the
// rules loaded now: those the rules still leave unknown, and those they decide since an
// admin added rules (the tally keeps counting a shape for as long as its records are
// kept; `abusewatch unknown` and `rules suggest` list only the first).
type CheckedShapes struct {
	Unknown []store.Shape  `json:"unknown"` // most frequent first, at most the limit asked
	Decided []DecidedShape `json:"decided"` // every one, most frequent first
}

// DecidedShape is a stored unknown shape whose sample a rule loaded now decides.
type DecidedShape struct {
	store.Shape
	Now  string `json:"now"`  // "normal", or "event": an attack rule's
	Rule string `json:"rule"` // FILE:LINE of the rule
}

// CheckShapes classifies the sample of each of shapes (most frequent first) with d. A
// sample is classified without the source it was read from, which the store does not
// keep: a PostgreSQL line of a file's own format, which only its source's declared
// prefix reads, stays unknown, as does the entry that counts the shapes past the
// store's limit. limit bounds Unknown (0: all); Decided holds all the decided ones. A
// nil d (rules that do not load) decides none.
func CheckShapes(d *detect.Detector, shapes []store.Shape, limit int) CheckedShapes {
	out := CheckedShapes{Unknown: []store.Shape{}, Decided: []DecidedShape{}}
	for _, sh := range shapes {
		if v, ok := decidedNow(d, sh); ok {
			out.Decided = append(out.Decided, DecidedShape{Shape: sh, Now: v.Outcome.String(), Rule: v.Rule})
			continue
		}
		if limit <= 0 || len(out.Unknown) < limit {
			out.Unknown = append(out.Unknown, sh)
		}
	}
	return out
}

// decidedNow classifies the sample of sh with d (as CheckShapes does), and says
// whether a rule decides it now: normal, or an attack rule's event.
func decidedNow(d *detect.Detector, sh store.Shape) (detect.Verdict, bool) {
	if d == nil || sh.Shape == store.OtherShapes {
		return detect.Verdict{}, false
	}
	read := sh.First
	if read.IsZero() {
		read = time.Now()
	}
	v := d.Explain(abusewatch.Record{Line: sh.Sample, Read: read})
	return v, v.Outcome == detect.Normal || v.Outcome == detect.Recognised
}

// serveCheckedShapes answers GET /v1/unknown/checked: the stored shapes since the
// request's since (7 days back by default) checked with the running rules.
func (d *Daemon) serveCheckedShapes(w http.ResponseWriter, r *http.Request) {
	since, err := sinceParam(r, 7*24*time.Hour)
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	limit, err := limitParam(r, 0)
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return
	}
	shapes, err := d.store.Shapes(since, 0)
	if err != nil {
		reply(w, nil, err)
		return
	}
	reply(w, CheckShapes(d.current.Load().detector, shapes, limit), nil)
}
