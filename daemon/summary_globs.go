package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/abusewatch/abusewatch/mailer"
)

// finishedGlobFiles leaves out of lines (the summary's SOURCES, from the configured
// files, globs expanded) the silent files of a glob that are done with. A glob over
// dated files (a central rsyslog's /var/log/remote/HOST/2026-12-06.log) matches every
// finished day's file, and a WARNING for each, every day, would teach the admin to skip
// the one that matters. A silent file of a glob is left out when it was last written
// before the period began (from) and another file of the glob read in the period; of a
// glob none of whose files read, only the one written last is named. A file named as
// it is (no glob) is always named.
func finishedGlobFiles(cfg *Config, lines []mailer.SourceLine, from time.Time) []mailer.SourceLine {
	at := map[string]int{} // line by name
	for i, l := range lines {
		at[l.Name] = i
	}
	drop := map[string]bool{}
	for _, s := range cfg.Sources {
		for _, pattern := range s.Files {
			if !hasMeta(pattern) {
				continue
			}
			matches, _ := filepath.Glob(pattern)
			var silent []string
			read := false
			for _, m := range matches {
				abs, err := filepath.Abs(m)
				i, ok := at[abs]
				if err != nil || !ok {
					continue
				}
				if lines[i].Silent {
					silent = append(silent, abs)
				} else {
					read = true
				}
			}
			written := func(name string) time.Time {
				if fi, err := os.Stat(name); err == nil {
					return fi.ModTime()
				}
				return time.Time{}
			}
			if read {
				for _, name := range silent {
					if written(name).Before(from) {
						drop[name] = true
					}
				}
				continue
			}
			if len(silent) > 1 {
				newest := slices.MaxFunc(silent, func(a, b string) int { return written(a).Compare(written(b)) })
				for _, name := range silent {
					drop[name] = drop[name] || name != newest
				}
			}
		}
	}
	return slices.DeleteFunc(lines, func(l mailer.SourceLine) bool { return drop[l.Name] })
}
