package daemon

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	// Refused are the unknown shapes whose sample an attack rule matches and takes no
	// event from (detect.Verdict.Refused), most frequent first, every one: a normal
	// rule for them would hide why they make no event (pure-ftpd's failures until
	// numeric_hosts names it) and never take effect, so `rules suggest` proposes none.
	Refused []RefusedShape `json:"refused,omitempty"`
}

// RefusedShape is a stored unknown shape an attack rule matches and takes no event from.
type RefusedShape struct {
	store.Shape
	Rule   string `json:"rule"`   // FILE:LINE of the attack rule
	Reason string `json:"reason"` // why it took no event
}

// DecidedShape is a stored unknown shape whose sample a rule loaded now decides.
type DecidedShape struct {
	store.Shape
	Now  string `json:"now"`  // "normal", or "event": an attack rule's
	Rule string `json:"rule"` // FILE:LINE of the rule
}

// ShapeRules are the rules shapes are checked against and since when they decide what
// is read: a shape seen after that was left unknown by them, whatever its sample.
type ShapeRules struct {
	Detector *detect.Detector // nil: rules that do not load, which decide nothing
	Since    time.Time
}

// CheckShapes classifies the sample of each of shapes (most frequent first) with r. A
// sample is classified without the source it was read from, which the store does not
// keep: a PostgreSQL line of a file's own format, which only its source's declared
// prefix reads, stays unknown, as does the entry that counts the shapes past the
// store's limit. A shape seen since r's rules decide what is read stays unknown too:
// its sample is its first record, and a rule written for it (naming its address, say)
// may leave its later records unknown. limit bounds Unknown (0: all); Decided holds all
// the decided ones.
func CheckShapes(r ShapeRules, shapes []store.Shape, limit int) CheckedShapes {
	out := CheckedShapes{Unknown: []store.Shape{}, Decided: []DecidedShape{}}
	for _, sh := range shapes {
		if v, ok := decidedNow(r, sh); ok {
			out.Decided = append(out.Decided, DecidedShape{Shape: sh, Now: v.Outcome.String(), Rule: v.Rule})
			continue
		}
		if v := refusedNow(r, sh); v.Refused() != "" {
			out.Refused = append(out.Refused, RefusedShape{Shape: sh, Rule: v.Rule, Reason: v.Refused()})
			continue
		}
		if limit <= 0 || len(out.Unknown) < limit {
			out.Unknown = append(out.Unknown, sh)
		}
	}
	return out
}

// decidedNow classifies the sample of sh with r (as CheckShapes does), and says
// whether a rule decides it now (normal, or an attack rule's event) and no record of
// it was seen since r's rules decide.
func decidedNow(r ShapeRules, sh store.Shape) (detect.Verdict, bool) {
	d := r.Detector
	if d == nil || sh.Shape == store.OtherShapes || !sh.Last.Before(r.Since) {
		return detect.Verdict{}, false
	}
	read := sh.First
	if read.IsZero() {
		read = time.Now()
	}
	v := d.Explain(abusewatch.Record{Line: sh.Sample, Read: read})
	return v, v.Outcome == detect.Normal || v.Outcome == detect.Recognised
}

// refusedNow classifies the sample of sh with r, whenever it was seen: what an attack
// rule refuses depends on the rules and numeric_hosts, which a later record of the shape
// shares (its program is in the shape), not on the record's address.
func refusedNow(r ShapeRules, sh store.Shape) detect.Verdict {
	if r.Detector == nil || sh.Shape == store.OtherShapes {
		return detect.Verdict{}
	}
	read := sh.First
	if read.IsZero() {
		read = time.Now()
	}
	return r.Detector.Explain(abusewatch.Record{Line: sh.Sample, Read: read})
}

// serveCheckedShapes answers GET /v1/unknown/checked: the stored shapes since the
// request's since (7 days back by default) checked with the running rules.
func (d *Daemon) serveCheckedShapes(w http.ResponseWriter, r *http.Request) {
	since, limit, ok := shapesParams(w, r)
	if !ok {
		return
	}
	shapes, err := d.store.Shapes(since, 0)
	if err != nil {
		reply(w, nil, err)
		return
	}
	pipe := d.current.Load()
	reply(w, CheckShapes(pipe.shapeRules(), shapes, limit), nil)
}

// shapeRules are the pipeline's rules for CheckShapes: in force since it was built.
func (p *Pipeline) shapeRules() ShapeRules {
	return ShapeRules{Detector: p.detector, Since: p.built}
}

// ConfiguredShapeRules are the configured rules for CheckShapes, as a daemon started
// now would run them (d; nil when they do not load), in force since the newest of the
// config file, the rule files and this program (its built-in rules) was written: a
// daemon runs rules only once started or reloaded after they were written.
func ConfiguredShapeRules(cfg *Config, d *detect.Detector) ShapeRules {
	var since time.Time
	newer := func(path string) {
		if fi, err := os.Stat(path); err == nil && fi.ModTime().After(since) {
			since = fi.ModTime()
		}
	}
	newer(cfg.file)
	if exe, err := os.Executable(); err == nil {
		newer(exe)
	}
	for _, dir := range slices.Concat(cfg.Detect.NormalDirs, cfg.Detect.AttackDirs) {
		newer(dir)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			newer(filepath.Join(dir, e.Name()))
		}
	}
	return ShapeRules{Detector: d, Since: since}
}

// shapesParams are the since (7 days back by default) and limit (0: all) of a question
// about the stored shapes; ok is false when one is bad, which w was told.
func shapesParams(w http.ResponseWriter, r *http.Request) (since time.Time, limit int, ok bool) {
	since, err := sinceParam(r, 7*24*time.Hour)
	if err == nil {
		limit, err = limitParam(r, 0)
	}
	if err != nil {
		replyError(w, http.StatusBadRequest, err)
		return since, 0, false
	}
	return since, limit, true
}
