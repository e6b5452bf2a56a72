package store

import (
	"slices"
	"testing"
)

// Positions lists every committed position under its key, fingerprints included.
func TestPositionsListsEveryKey(t *testing.T) {
	s := openTemp(t)
	if got, err := s.Positions(); err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v, %v", got, err)
	}
	want := []Position{
		{Source: "/var/log/auth.log", Dev: 1, Inode: 2, Offset: 300},
		{Source: "/var/log/auth.log\x00fingerprint", Dev: 99, Inode: 128, Offset: 300},
		{Source: "journal", Dev: 7, Inode: 8, Offset: 9},
	}
	if _, err := s.Commit(nil, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Positions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Positions() = %+v\nwant %+v", got, want)
	}
}

// A position committed with Forget is deleted; forgetting one that is not there is no
// error.
func TestCommitForgetsAPosition(t *testing.T) {
	s := openTemp(t)
	kept := Position{Source: "/var/log/auth.log", Dev: 1, Inode: 2, Offset: 300}
	if _, err := s.Commit(nil, []Position{kept, {Source: "/var/log/auth.log (rotated away, mark 0)", Dev: 1, Inode: 3, Offset: 10}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(nil, []Position{{Source: "/var/log/auth.log (rotated away, mark 0)", Forget: true}, {Source: "never", Forget: true}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Positions()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []Position{kept}) {
		t.Errorf("Positions() = %+v; want only %+v", got, kept)
	}
}
