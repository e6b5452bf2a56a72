package store

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Shapes add up across batches and restarts: counts sum, first and last widen, the
// first sample stays, the most frequent shape comes first.
func TestShapesAddUpAcrossBatchesAndRestarts(t *testing.T) {
	s, path := openNew(t)
	var err error
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	if err := s.AddShapes([]Shape{
		{Shape: "a: <N>", Count: 2, First: t0, Last: t0.Add(time.Minute), Sample: "first a"},
		{Shape: "b: <ADDR>", Count: 1, First: t0, Last: t0, Sample: "first b"},
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path, time.Second); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AddShapes([]Shape{{Shape: "a: <N>", Count: 3, First: t0.Add(-time.Hour), Last: t0.Add(time.Hour), Sample: "later a"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Shapes(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := Shape{Shape: "a: <N>", Count: 5, First: t0.Add(-time.Hour), Last: t0.Add(time.Hour), Sample: "first a"}
	if len(got) != 2 || !got[0].First.Equal(want.First) || !got[0].Last.Equal(want.Last) ||
		got[0].Count != want.Count || got[0].Sample != want.Sample || got[1].Shape != "b: <ADDR>" {
		t.Errorf("Shapes() = %+v\nwant first %+v", got, want)
	}
	if recent, _ := s.Shapes(t0.Add(30*time.Minute), 0); len(recent) != 1 || recent[0].Shape != "a: <N>" {
		t.Errorf("Shapes(since) = %+v, want only a", recent)
	}
	if top, _ := s.Shapes(time.Time{}, 1); len(top) != 1 {
		t.Errorf("Shapes(limit 1) = %d shapes", len(top))
	}
}

// Once MaxShapes shapes are kept, records of new shapes are counted under OtherShapes.
func TestShapesBeyondTheLimitAreCountedTogether(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	batch := make([]Shape, 0, MaxShapes+2)
	for i := range MaxShapes + 2 {
		batch = append(batch, Shape{Shape: fmt.Sprintf("s%d", i), Count: 1, First: t0, Last: t0, Sample: "x"})
	}
	if err := s.AddShapes(batch); err != nil {
		t.Fatal(err)
	}
	got, err := s.Shapes(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != MaxShapes+1 || got[0].Shape != OtherShapes || got[0].Count != 2 {
		t.Errorf("%d shapes, top %q ×%d; want %d with %q ×2 on top", len(got), got[0].Shape, got[0].Count, MaxShapes+1, OtherShapes)
	}
}

// A shape longer than a bbolt key may be (a sender's 40 kB line that no rule knows) is
// kept cut, with the shapes it shares its start with, and the batch's other shapes are
// tallied: bbolt refused the key, and with it the whole tally.
func TestAShapeLongerThanAKeyIsKeptCut(t *testing.T) {
	s := openTemp(t)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	long := "sshd: " + strings.Repeat("é", 20_000) // 40 kB, and cut within a character unless at its start
	shapes := []Shape{
		{Shape: long + " one", Count: 1, First: t0, Last: t0, Sample: long + " one"},
		{Shape: long + " two", Count: 2, First: t0, Last: t0, Sample: long + " two"},
		{Shape: "b: <ADDR>", Count: 1, First: t0, Last: t0, Sample: "b 1.2.3.4"},
	}
	if err := s.AddShapes(shapes); err != nil {
		t.Fatalf("AddShapes of a 40 kB shape: %v", err)
	}
	got, err := s.Shapes(time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Count != 3 || got[1].Shape != "b: <ADDR>" {
		t.Fatalf("Shapes() = %d shapes (%v); want the long ones together (3), and b", len(got), got)
	}
	cut := got[0]
	if len(cut.Shape) > maxShapeKey || !utf8.ValidString(cut.Shape) || !strings.HasPrefix(cut.Shape, "sshd: éé") || !strings.HasSuffix(cut.Shape, "…") {
		t.Errorf("the long shape is kept as %d bytes, valid UTF-8 %v, %q…%q; want at most %d, cut at a character, marked",
			len(cut.Shape), utf8.ValidString(cut.Shape), cut.Shape[:10], cut.Shape[len(cut.Shape)-10:], maxShapeKey)
	}
	if len(cut.Sample) > 4*maxShapeKey || !utf8.ValidString(cut.Sample) {
		t.Errorf("its sample is kept as %d bytes, valid UTF-8 %v", len(cut.Sample), utf8.ValidString(cut.Sample))
	}
}
