package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch"
	bolt "go.etcd.io/bbolt"
)

// bucketShapes tallies unknown records by shape: shape → Shape (JSON). Shapes are the
// admin's tuning list (`abusewatch unknown`, the daily summary), not evidence, so they
// are committed after the events of their batch, in a transaction of their own.
var bucketShapes = []byte("shapes")

// MaxShapes bounds the shapes kept: attackers can vary their text without end, and the
// list is for a person to read. Records of further new shapes are counted under
// OtherShapes.
const MaxShapes = 10000

// OtherShapes is the shape that counts records once MaxShapes distinct shapes are kept.
const OtherShapes = "(other shapes: the list is full; add normal rules for the top ones)"

// maxShapeKey bounds a shape as a key, and its sample: a line is the sender's (a
// syslog frame may hold 64 kB), bbolt refuses a key over 32 kB, and the refusal failed
// the whole tally of the batch. A longer shape is cut at a character's start, marked
// with an ellipsis: shapes that differ only after it count together.
const maxShapeKey = 1024

// cutShape is s cut to at most max bytes (an ellipsis included) at a character's
// start.
func cutShape(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const more = "…"
	end := max - len(more)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + more
}

// Shape is how often unknown records of one shape were seen, when, and one of them.
type Shape struct {
	Shape  string    `json:"shape"`
	Count  int64     `json:"count"`
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Sample string    `json:"sample"` // the first record seen of this shape
}

// AddShapes adds the counts of shapes to the stored ones: counts add up, First and Last
// widen, the stored sample stays.
func (s *Store) AddShapes(shapes []Shape) error {
	if len(shapes) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShapes)
		n := b.Stats().KeyN
		for _, sh := range shapes {
			sh.Shape, sh.Sample = cutShape(sh.Shape, maxShapeKey), cutShape(sh.Sample, 4*maxShapeKey)
			if sh.Shape == "" {
				sh.Shape = abusewatch.EmptyShape // bbolt refuses an empty key
			}
			key := []byte(sh.Shape)
			v := b.Get(key)
			if v == nil && n >= MaxShapes {
				key = []byte(OtherShapes)
				v = b.Get(key)
				sh.Shape = OtherShapes
			}
			if v != nil {
				var old Shape
				if err := json.Unmarshal(v, &old); err != nil {
					return fmt.Errorf("shape %q: %w", key, err)
				}
				old.Count += sh.Count
				if sh.First.Before(old.First) {
					old.First = sh.First
				}
				if sh.Last.After(old.Last) {
					old.Last = sh.Last
				}
				sh = old
			} else {
				n++
			}
			data, err := json.Marshal(sh)
			if err != nil {
				return err
			}
			if err := b.Put(key, data); err != nil {
				return err
			}
		}
		return nil
	})
}

// Shapes returns the stored shapes seen since from, most frequent first, at most limit
// of them (all when limit <= 0).
func (s *Store) Shapes(from time.Time, limit int) ([]Shape, error) {
	var out []Shape
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketShapes).ForEach(func(k, v []byte) error {
			var sh Shape
			if err := json.Unmarshal(v, &sh); err != nil {
				return fmt.Errorf("shape %q: %w", k, err)
			}
			if !sh.Last.Before(from) {
				out = append(out, sh)
			}
			return nil
		})
	})
	slices.SortStableFunc(out, MostSeen)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, err
}

// MostSeen orders shapes as the tuning lists show them: the most seen first, then by
// shape.
func MostSeen(a, b Shape) int {
	return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Shape, b.Shape))
}

// shapesAfterPrune is how many shapes PruneShapes leaves at most: room for new ones.
const shapesAfterPrune = MaxShapes * 9 / 10

// PruneShapes deletes the shapes last seen before before and then, while more than
// shapesAfterPrune are left, the least recently seen: a list full of the shapes of
// months ago, or of an attacker's variations, counted every new shape under OtherShapes
// for good, and the admin never saw what changed. It returns how many it deleted.
func (s *Store) PruneShapes(before time.Time) (int, error) {
	all, err := s.Shapes(time.Time{}, 0)
	if err != nil {
		return 0, err
	}
	var doomed [][]byte
	var kept []Shape
	for _, sh := range all { // a shape is stored under its text
		if sh.Last.Before(before) {
			doomed = append(doomed, []byte(sh.Shape))
		} else if sh.Shape != OtherShapes {
			kept = append(kept, sh)
		}
	}
	if len(kept) > shapesAfterPrune {
		slices.SortFunc(kept, func(a, b Shape) int { return a.Last.Compare(b.Last) })
		for _, sh := range kept[:len(kept)-shapesAfterPrune] {
			doomed = append(doomed, []byte(sh.Shape))
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	return len(doomed), s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShapes)
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
