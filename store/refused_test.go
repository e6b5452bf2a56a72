package store

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A store written by a version before the marks has no bucket of them and reads as
// marking no one; FinishAttempt marks, forgets and counts in one transaction, and the
// marks outlast a restart.
func TestRefusedMailboxesAreKeptWithTheAttempt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ms, err := s.RefusedMailboxes(); err != nil || len(ms) != 0 {
		t.Fatalf("a new store's marks: %+v, %v", ms, err)
	}
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	r := abusewatch.Report{ID: "r1", State: abusewatch.ReportSending, Message: []byte("x"),
		Contact: abusewatch.Contact{Emails: []string{"abuse@a.example", "Noc@A.example"}}}
	if _, err := s.AddReport(r); err != nil {
		t.Fatal(err)
	}
	mark := RefusedMailbox{Email: "Noc@A.example", Time: t0, Report: "r1", Reply: "550 user unknown"}
	d := &Delivery{Report: "r1", Time: t0, Emails: r.Contact.Emails, Refused: []string{"Noc@A.example"}}
	if err := s.FinishAttempt("r1", func(r *abusewatch.Report) error {
		r.State = abusewatch.ReportSent
		return nil
	}, d, []RefusedMailbox{mark}, []string{"abuse@a.example"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, err := s.RefusedMailboxes()
	if err != nil || len(ms) != 1 || ms[0] != mark {
		t.Fatalf("marks after a restart: %+v, %v", ms, err)
	}
	if ds, _ := s.Deliveries(t0); len(ds) != 1 || !slices.Equal(ds[0].Refused, d.Refused) {
		t.Errorf("deliveries: %+v", ds)
	}
	// Taking a report forgets the mark, whatever the case of the address.
	if err := s.FinishAttempt("r1", func(*abusewatch.Report) error { return nil }, nil, nil, []string{"noc@a.example"}); err != nil {
		t.Fatal(err)
	}
	if ms, _ := s.RefusedMailboxes(); len(ms) != 0 {
		t.Errorf("marks after the mailbox took a report: %+v", ms)
	}
}
