package detect

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseJournalctlTime reads the timestamps of journalctl's -o short-unix
// ("1796666600.123456 host prog[pid]: msg", seconds since 1970 and six digits of microseconds) and
// -o short-full ("Mon 2026-12-07 10:00:01 CET host prog[pid]: msg") and returns the rest.
// ok says that s starts like one of them; err, that it is not read even so: a zone
// abbreviation loc does not use at that time. An abbreviation names no offset of its own
// (CST is China's, Cuba's and America's), so it is only checked against the zone the
// host's times are read in, detect.timezone, never taken for one; UTC and GMT are read
// as such.
func parseJournalctlTime(s string, loc *time.Location) (t time.Time, rest string, ok bool, err error) {
	switch {
	case len(s) > 12 && s[10] == '.' && isDigits(s[:10]):
		secs, rest, _ := strings.Cut(s, " ")
		frac := secs[11:]
		// journalctl writes microseconds, always six digits; PostgreSQL's %n
		// ("1796629693.707 [25127] FATAL: …") has milliseconds.
		if len(frac) != 6 || !isDigits(frac) || rest == "" {
			return t, "", false, nil
		}
		sec, _ := strconv.ParseInt(secs[:10], 10, 64)
		usec, _ := strconv.Atoi(frac)
		return time.Unix(sec, int64(usec)*int64(time.Microsecond)), rest, true, nil
	case len(s) > 25 && s[3] == ' ' && weekdays[s[:3]] && s[8] == '-' && s[11] == '-' && s[14] == ' ' && s[23] == ' ':
		wall, err := time.ParseInLocation("2006-01-02 15:04:05", s[4:23], loc)
		if err != nil {
			return t, "", false, nil
		}
		zone, rest, found := strings.Cut(s[24:], " ")
		if !found || zone == "" {
			return t, "", false, nil
		}
		if zone == "UTC" || zone == "GMT" {
			w := wall
			return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC), rest, true, nil
		}
		// The abbreviation that loc gives one of the instants of that wall clock names
		// it; in the hour an autumn change repeats, it tells the two apart (CEST, CET).
		early, late, _ := foldOf(wall)
		for _, c := range [2]time.Time{early, late} {
			if name, _ := c.Zone(); name == zone {
				return c, rest, true, nil
			}
		}
		return t, "", true, fmt.Errorf("journalctl time %q: the zone %q is not one that detect.timezone (%s) uses at that time; the line is not read rather than read with a guessed offset",
			prefix(s[4:], 24), prefix(zone, 8), loc)
	}
	return t, "", false, nil
}
