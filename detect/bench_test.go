package detect

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect/detecttest"
)

// logcheckServer is Debian's logcheck-database server rule set, the natural benchmark
// input (about 1,450 rules). It is GPL and not vendored: install logcheck-database.
const logcheckServer = "/etc/logcheck/ignore.d.server"

func benchClassify(b *testing.B, d *Detector) {
	lines := detecttest.AuthLog(100_000, 1)
	recs := make([]abusewatch.Record, len(lines))
	read := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i, l := range lines {
		recs[i] = abusewatch.Record{Source: "auth.log", Line: l, Read: read}
	}
	var counts [4]int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, _ := d.Classify(recs[i%len(recs)])
		counts[o]++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(counts[Unknown])/float64(b.N)*100, "%unknown")
}

// BenchmarkClassifyShipped classifies a realistic auth log with the shipped rules.
func BenchmarkClassifyShipped(b *testing.B) {
	benchClassify(b, shipped(b))
}

// BenchmarkClassifyLogcheck adds logcheck's server database to the shipped rules.
func BenchmarkClassifyLogcheck(b *testing.B) {
	if _, err := os.Stat(logcheckServer); err != nil {
		b.Skipf("%s: %v (apt-get install logcheck-database)", logcheckServer, err)
	}
	d := shipped(b)
	n, err := LoadNormalRuleDirs(RuleDir{FS: os.DirFS("../configs"), Dir: "rules/normal.d", Name: "normal.d"},
		RuleDir{FS: os.DirFS(logcheckServer), Dir: ".", Name: logcheckServer})
	var errs RuleErrors
	if err != nil && !errors.As(err, &errs) {
		b.Fatal(err) // rules with backreferences, which RE2 lacks, are skipped and said so
	}
	b.ReportMetric(float64(n.Len()), "rules")
	benchClassify(b, New(n, d.attack, time.UTC))
}
