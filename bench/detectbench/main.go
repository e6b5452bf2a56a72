// Command detectbench measures detect's throughput: it classifies every line of a log
// (parse the header, attack rules, normal rules) on one core and prints lines per second,
// the median of several runs, and the allocations per line. With -gen it writes the
// realistic auth log of detect/detecttest instead. bench/detect.sh drives it.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/configs"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/detect/detecttest"
)

type dirs []string

func (d *dirs) String() string     { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error { *d = append(*d, v); return nil }

func main() {
	gen := flag.Int("gen", 0, "write a realistic auth log of `N` lines to -log and exit")
	logFile := flag.String("log", "", "the log `file` to classify (or to write with -gen)")
	runs := flag.Int("runs", 5, "measure `N` times and print the median")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the runs to `file`")
	var normal dirs
	flag.Var(&normal, "normal", "also load the normal rules in `DIR` (repeatable), e.g. /etc/logcheck/ignore.d.server")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "detectbench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*gen, *logFile, *runs, normal); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "detectbench:", err)
		os.Exit(1)
	}
}

func run(gen int, logFile string, runs int, normal []string) error {
	if logFile == "" {
		return errors.New("name the log with -log FILE")
	}
	if gen > 0 {
		return os.WriteFile(logFile, []byte(strings.Join(detecttest.AuthLog(gen, 1), "\n")+"\n"), 0o644)
	}
	runtime.GOMAXPROCS(1) // the figure is per core
	normalDirs := []detect.RuleDir{{FS: configs.FS, Dir: "rules/normal.d", Name: "normal.d"}}
	for _, d := range normal {
		normalDirs = append(normalDirs, detect.RuleDir{FS: os.DirFS(d), Dir: ".", Name: d})
	}
	n, err := detect.LoadNormalRuleDirs(normalDirs...)
	var bad detect.RuleErrors
	if errors.As(err, &bad) {
		fmt.Fprintf(os.Stderr, "%d normal rules left out (RE2 has no backreferences): %v\n", len(bad), bad)
	} else if err != nil {
		return err
	}
	a, err := detect.LoadAttackRuleDirs(detect.RuleDir{FS: configs.FS, Dir: "rules/attack.d", Name: "attack.d"})
	if err != nil {
		return err
	}
	d := detect.New(n, a, time.UTC)
	recs, err := readRecords(logFile)
	if err != nil {
		return err
	}
	var rates []float64
	var outcomes [detect.Continuation + 1]int
	var allocs float64
	for range runs {
		outcomes = [detect.Continuation + 1]int{}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		for _, r := range recs {
			o, _ := d.Classify(r)
			outcomes[o]++
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&after)
		rates = append(rates, float64(len(recs))/elapsed.Seconds())
		allocs = float64(after.Mallocs-before.Mallocs) / float64(len(recs))
	}
	slices.Sort(rates)
	fmt.Printf("abusewatch detect: %.0f lines/s on one core (median of %d runs over %d lines; min %.0f, max %.0f)\n",
		rates[len(rates)/2], runs, len(recs), rates[0], rates[len(rates)-1])
	fmt.Printf("  %d normal rules + %d attack rules; %.2f allocations per line\n", n.Len(), a.Len(), allocs)
	fmt.Printf("  %d events, %d normal, %d unknown, %d unparsed, %d continuation lines\n",
		outcomes[detect.Recognised], outcomes[detect.Normal], outcomes[detect.Unknown], outcomes[detect.Unparsed], outcomes[detect.Continuation])
	return nil
}

func readRecords(path string) ([]abusewatch.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []abusewatch.Record
	read := time.Now()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		recs = append(recs, abusewatch.Record{Source: path, Line: sc.Text(), Read: read})
	}
	return recs, sc.Err()
}
