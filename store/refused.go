package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketRefused holds the mailboxes whose server refused a report for good (a 5xx at
// RCPT TO or to the message): lower-case address → RefusedMailbox as JSON. The outbox
// sends no further report to one on its own: each waits for the admin, until the admin
// approves one (to try again) or the mailbox takes a report, the admin rejects the
// report it refused (ForgetRefusalsOf), or the mark expires (ExpireRefused). Made by the first write (a
// store of an older version has none, and reads as holding none), so it needs no
// schema change.
var bucketRefused = []byte("refused_mailboxes")

// RefusedMailbox is a mailbox whose server refused a report for good.
type RefusedMailbox struct {
	Email  string    `json:"email"`
	Time   time.Time `json:"time"`   // when it refused
	Report string    `json:"report"` // the report it refused
	Reply  string    `json:"reply"`  // the server's reply, one printable line
}

// refusedKey is the key of mailbox email.
func refusedKey(email string) []byte { return []byte(strings.ToLower(strings.TrimSpace(email))) }

// RefusedMailboxes returns the mailboxes marked refused, oldest refusal first.
func (s *Store) RefusedMailboxes() ([]RefusedMailbox, error) {
	var out []RefusedMailbox
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRefused)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var m RefusedMailbox
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("refused mailbox %s: %w", k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b RefusedMailbox) int { return a.Time.Compare(b.Time) })
	return out, err
}

// ClearRefused forgets that the mailboxes emails refused: the admin approved a report
// to them, to try again.
func (s *Store) ClearRefused(emails []string) error {
	return s.db.Update(func(tx *bolt.Tx) error { return clearRefused(tx, emails) })
}

// clearRefused is ClearRefused inside tx.
func clearRefused(tx *bolt.Tx, emails []string) error {
	b := tx.Bucket(bucketRefused)
	if b == nil {
		return nil
	}
	for _, e := range emails {
		if err := b.Delete(refusedKey(e)); err != nil {
			return err
		}
	}
	return nil
}

// markRefused records ms inside tx, each replacing an older mark of its mailbox.
func markRefused(tx *bolt.Tx, ms []RefusedMailbox) error {
	if len(ms) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketRefused)
	if err != nil {
		return err
	}
	for _, m := range ms {
		v, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := b.Put(refusedKey(m.Email), v); err != nil {
			return err
		}
	}
	return nil
}

// ForgetRefusalsOf forgets the marks that report id made: the admin rejected it.
func (s *Store) ForgetRefusalsOf(id string) error {
	return s.forgetRefused(func(m RefusedMailbox) bool { return m.Report == id })
}

// ExpireRefused forgets the marks made before t, and says how many it forgot.
func (s *Store) ExpireRefused(t time.Time) (int, error) {
	n := 0
	err := s.forgetRefused(func(m RefusedMailbox) bool {
		if m.Time.Before(t) {
			n++
			return true
		}
		return false
	})
	return n, err
}

// forgetRefused deletes the marks for which forget says so.
func (s *Store) forgetRefused(forget func(RefusedMailbox) bool) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRefused)
		if b == nil {
			return nil
		}
		var gone [][]byte
		if err := b.ForEach(func(k, v []byte) error {
			var m RefusedMailbox
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("refused mailbox %s: %w", k, err)
			}
			if forget(m) {
				gone = append(gone, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range gone {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
