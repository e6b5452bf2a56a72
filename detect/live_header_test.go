package detect

import (
	"testing"
	"time"
)

// YearGuessed tells a header time without a year from one with it, in every format a
// year can be written in, Feb 29 included; ParseLiveHeader gives a year-less time the
// month's allowance of a live line, as Explain does for a Live record.
func TestYearGuessedAndParseLiveHeader(t *testing.T) {
	const rest = " web1 sshd[7]: Failed password for root from 45.134.26.111 port 5 ssh2"
	for line, guessed := range map[string]bool{
		"Dec  7 13:03:12" + rest:                              true,
		"<38>Feb 29 12:00:00" + rest:                          true,
		"Dec  7 2026 13:03:12" + rest:                         false,
		"2026-12-07T13:03:12Z" + rest:                         false,
		"<38>1 2026-12-07T13:03:12.5+09:00 web1 sshd 7 - - x": false,
		"not a header":                                        false,
	} {
		if got := YearGuessed(line, time.UTC); got != guessed {
			t.Errorf("YearGuessed(%q) = %v; want %v", line, got, guessed)
		}
	}
	ref := time.Date(2026, 12, 7, 2, 17, 5, 0, time.UTC)
	for line, want := range map[string]time.Time{
		"Dec 31 23:59:50" + rest: time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC), // 24 days fast: this year
		"Jan  8 02:17:06" + rest: time.Date(2026, 1, 8, 2, 17, 6, 0, time.UTC),     // a month and a day: last year
	} {
		if h, err := ParseLiveHeader(line, ref, time.UTC); err != nil || !h.Time.Equal(want) {
			t.Errorf("ParseLiveHeader(%q) = %v, %v; want %v", line, h.Time, err, want)
		}
	}
}
