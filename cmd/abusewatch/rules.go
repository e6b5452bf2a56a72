package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/detect"
	"github.com/abusewatch/abusewatch/store"
)

// rulesCommand is `abusewatch rules test|suggest`: try rules on a log, and propose normal
// rules for the unknown records, for the admin to review (Cohen's tuning loop).
type rulesCommand struct {
	stdout, stderr io.Writer
}

func (c *rulesCommand) Name() string { return "rules" }
func (c *rulesCommand) Synopsis() string {
	return "show which rule classifies each line of a log (test), propose normal rules (suggest)"
}

func (c *rulesCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{"rules needs a subcommand: test FILE, or suggest [FILE]\nTry: abusewatch rules test --rules /etc/logcheck/ignore.d.server /var/log/auth.log"}
	}
	switch args[0] {
	case "test":
		return c.test(ctx, args[1:])
	case "suggest":
		return c.suggest(ctx, args[1:])
	case "-h", "-help", "--help":
		// The flags both subcommands take; each has its own -h too.
		fs := newFlagSet(c.Name(), "test [--rules DIR]... [--attack-from-config=false] [--config FILE] [--builtin=false] [--json] FILE|-\n       abusewatch rules suggest [--rules DIR]... [--attack-from-config=false] [--config FILE] [--builtin=false] [FILE]", c.stdout, c.stderr)
		addRuleFlags(fs)
		fs.Bool("json", false, "test: print one JSON object per input line")
		return fs.Parse(args)
	}
	return &usageError{fmt.Sprintf("rules has no subcommand %q: use test or suggest", args[0])}
}

// Subcommands are what may follow `rules`, for the shell completions.
func (c *rulesCommand) Subcommands() []string { return []string{"test", "suggest"} }

// ruleDirsFlag is the repeatable --rules DIR.
type ruleDirsFlag []string

func (f *ruleDirsFlag) String() string     { return strings.Join(*f, ",") }
func (f *ruleDirsFlag) Set(v string) error { *f = append(*f, v); return nil }

// ruleFlags are how rules test and suggest choose their rules.
type ruleFlags struct {
	fs               *flag.FlagSet // which of them were given
	config           *string
	rules            *ruleDirsFlag
	builtin          *bool
	attackFromConfig *bool
}

func addRuleFlags(fs *flag.FlagSet) ruleFlags {
	f := ruleFlags{fs: fs, rules: &ruleDirsFlag{}}
	f.config = fs.String("config", daemon.DefaultConfigPath, "classify as the daemon of this config `file` does: its rules, [detect] builtin_rules, numeric_hosts and timezone, its sources' hosts and postgres_prefix (with --rules, its normal_dirs are left out)")
	fs.Var(f.rules, "rules", rulesUsage)
	// Its default (false) is not used: unless given, the config's builtin_rules decides.
	f.builtin = fs.Bool("builtin", false, "also use the rules built into abusewatch, or with --builtin=false not (default: as the config's [detect] builtin_rules, true without a config)")
	f.attackFromConfig = fs.Bool("attack-from-config", true, attackFromConfigUsage)
	return f
}

// rulesUsage and attackFromConfigUsage document --rules and --attack-from-config, which
// mean the same to rules test, rules suggest and scan.
const (
	rulesUsage            = "use the rules in `DIR` instead of the configured normal_dirs (repeatable): a directory with normal.d/ and attack.d/, an attack*/ directory, or a directory of normal rules such as /etc/logcheck/ignore.d.server; the configured attack_dirs stay (see --attack-from-config)"
	attackFromConfigUsage = "with --rules, also use the attack rules of --config's attack_dirs, as the daemon would: attack rules come first, and a normal rule never drops a line one of them decides; false: only the attack rules of --rules (and the built-in ones)"
)

// withRuleDirs makes cfg classify with the rules of dirs (--rules): their normal rules
// instead of the configured normal_dirs, their attack rules before the configured
// attack_dirs, which stay unless attackFromConfig is false. The daemon runs an admin's
// attack rules before any normal rule: a set of normal rules tried without them drops
// what they would decide, and scan stored those lines as unknown for good.
func withRuleDirs(cfg *daemon.Config, dirs []string, attackFromConfig bool) error {
	normal, attack, err := detect.SplitRuleDirs(dirs)
	if err != nil {
		return &usageError{err.Error()}
	}
	configured := cfg.Detect.AttackDirs
	cfg.Detect.NormalDirs, cfg.Detect.AttackDirs = normal, attack
	if attackFromConfig {
		for _, d := range configured {
			if !slices.ContainsFunc(attack, func(a string) bool { return sameDir(a, d) }) {
				cfg.Detect.AttackDirs = append(cfg.Detect.AttackDirs, d)
			}
		}
	}
	return nil
}

// sameDir reports whether a and b name one directory, a relative one taken from the
// working directory as the daemon takes it.
func sameDir(a, b string) bool {
	abs := func(p string) string {
		if q, err := filepath.Abs(p); err == nil {
			return q
		}
		return filepath.Clean(p)
	}
	return abs(a) == abs(b)
}

// notLoaded says on w which of the rule directories of dirs (--rules) cfg does not
// list: rules tried there and found good do nothing until the config names them (the
// README's loop tried /etc/abusewatch/normal.d, which no config listed).
func notLoaded(w io.Writer, cfg *daemon.Config, dirs []string) {
	normal, attack, err := detect.SplitRuleDirs(dirs)
	if err != nil {
		return // withRuleDirs says why
	}
	listed := func(d string) bool {
		return slices.ContainsFunc(append(slices.Clip(cfg.Detect.NormalDirs), cfg.Detect.AttackDirs...), func(c string) bool { return sameDir(c, d) })
	}
	for _, k := range []struct {
		dirs []string
		key  string
	}{{normal, "normal_dirs"}, {attack, "attack_dirs"}} {
		for _, d := range k.dirs {
			if !listed(d) {
				fmt.Fprintf(w, "Note: the daemon does not load %s: add it to [detect] %s in %s, then abusewatch reload.\n", d, k.key, cfg.File())
			}
		}
	}
}

// loadedRules are the rules rules test and suggest classify with.
type loadedRules struct {
	*detect.Detector
	bad int // rules that do not compile, left out
}

// detector builds a Detector from the flags, classifying as the daemon of --config
// would, with only what the flags given change. Rules that do not compile are reported
// on stderr with their file and line, and so are normal rules that load but can never
// match (a byte order mark, white space around them); the others are used, so a rule
// set can be tried while it is being fixed.
func (f ruleFlags) detector(stderr io.Writer) (loadedRules, error) {
	tried := len(*f.rules) > 0
	cfg, err := daemon.LoadConfig(*f.config)
	switch {
	case err == nil:
		if tried {
			notLoaded(stderr, cfg, *f.rules)
		}
	case errors.Is(err, os.ErrNotExist) && tried:
		fmt.Fprintf(stderr, "No config at %s: no configured attack rules besides those of --rules.\n", *f.config)
		cfg = defaultRulesConfig()
	case errors.Is(err, os.ErrNotExist) && !flagGiven(f.fs, "config"):
		fmt.Fprintf(stderr, "No config at %s: using the built-in rules only.\n", *f.config)
		cfg = defaultRulesConfig()
	case tried && !*f.attackFromConfig:
		// Asked to leave the config's attack rules out: what else it says is missed.
		fmt.Fprintf(stderr, "Warning: %v\n(classifying without it: no numeric_hosts, local time, no source's postgres_prefix)\n", err)
		cfg = defaultRulesConfig()
	case tried:
		return loadedRules{}, fmt.Errorf("%w\n--rules takes the attack_dirs of this config too: fix it, name another with --config, or leave them out with --attack-from-config=false", err)
	default:
		return loadedRules{}, err
	}
	if tried {
		if err := withRuleDirs(cfg, *f.rules, *f.attackFromConfig); err != nil {
			return loadedRules{}, err
		}
	}
	if flagGiven(f.fs, "builtin") {
		cfg.Detect.BuiltinRules = f.builtin
	}
	rules, err := daemon.LoadRules(cfg)
	var bad detect.RuleErrors
	if errors.As(err, &bad) {
		fmt.Fprintf(stderr, "%d rules do not compile and are left out:\n%v\n", len(bad), bad)
	} else if err != nil {
		return loadedRules{}, err
	}
	// What loads but may not do what was meant: a normal rule that never matches, a file
	// not read, an attack rule of a class nothing counts (the daemon logs the same).
	for _, w := range rules.Warnings {
		fmt.Fprintf(stderr, "Warning: %v\n", w)
	}
	// The daemon's: its sources' hosts and PostgreSQL prefixes too.
	return loadedRules{Detector: daemon.NewDetector(cfg, rules), bad: len(bad)}, nil
}

// defaultRulesConfig is what rules test and suggest classify with without a config: the
// built-in rules, local time.
func defaultRulesConfig() *daemon.Config {
	builtin := true
	cfg := &daemon.Config{}
	cfg.Detect.BuiltinRules, cfg.Detect.Timezone = &builtin, "Local"
	return cfg
}

// sourceOf names a tested file as the daemon names the files it reads, by its absolute
// path, so that what its [[source]] declares applies.
func sourceOf(file string) string {
	if file == "-" {
		return file
	}
	if abs, err := filepath.Abs(file); err == nil {
		return abs
	}
	return file
}

// testedLine is what `rules test --json` prints for each input line. Proto, Flags and
// DPort are a firewall event's protocol, TCP flags and port of ours: what the probe
// was. A packet a firewall logged is forgeable whatever they say, and never reported
// alone; an admin trying a firewall rule sees them. Shadows is the admin's normal rule
// that matches a line an attack rule decided: it never takes effect there.
type testedLine struct {
	Line    int    `json:"line"`
	Verdict string `json:"verdict"`
	Class   string `json:"class,omitempty"`
	Addr    string `json:"addr,omitempty"`
	Host    string `json:"host,omitempty"`
	User    string `json:"user,omitempty"`
	Port    uint16 `json:"port,omitempty"`
	Proto   string `json:"proto,omitempty"`
	Flags   string `json:"flags,omitempty"`
	DPort   uint16 `json:"dport,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Shadows string `json:"shadows,omitempty"`
}

// classified is one line of a tested log and what the rules made of it.
type classified struct {
	n     int
	v     detect.Verdict
	shape string // of an unknown record
	text  string // the line, of an unknown record
	// refused is why an attack rule that matched the unknown record took no event
	// from it (Verdict.Refused): no normal rule is proposed for its shape.
	refused string
	line    testedLine
}

// classify reads in and classifies each line with d in the order read, until the end
// of in or of ctx; it closes in. The reading and the matching run apart from the
// command, which stops on Ctrl-C or SIGTERM at once, not when a line that takes long
// to match (or an input that does not come) is done.
func classify(ctx context.Context, d loadedRules, in io.ReadCloser, file string) (<-chan classified, func() error) {
	out := make(chan classified, 64)
	var readErr error
	go func() {
		defer close(out)
		defer in.Close()
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		now, source := time.Now(), sourceOf(file)
		for n := 1; sc.Scan(); n++ {
			rec := abusewatch.Record{Source: source, Line: sc.Text(), Read: now}
			v := d.Explain(rec)
			c := classified{n: n, v: v, line: testedLine{Line: n, Verdict: v.Outcome.String(), Rule: v.Rule}}
			if v.Event.Class != "" {
				t := &c.line
				t.Class, t.Host, t.User, t.Port = string(v.Event.Class), v.Event.Name, v.Event.User, v.Event.Port
				t.Proto, t.Flags, t.DPort = v.Event.Proto, v.Event.Flags, v.Event.LocalPort
				if v.Event.Addr.IsValid() {
					t.Addr = v.Event.Addr.String()
				}
			}
			switch v.Outcome {
			case detect.Unknown:
				c.shape, c.text = detect.Shape(v.Header.Program, v.Header.Message), rec.Line
				c.refused = v.Refused()
			case detect.Recognised:
				// An admin's normal rule for this line never takes effect: say so, or
				// the admin is left to wonder why the rule added does nothing. The
				// shipped rules overlapping is known and no news.
				if r := d.NormalRuleUnder(rec, v); r != "" && !strings.HasPrefix(r, "(built in)") {
					c.line.Shadows = r
				}
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
		if err := sc.Err(); err != nil {
			readErr = fmt.Errorf("%s: %w", file, err)
		}
	}()
	// The error is read once out is closed: close happens before.
	return out, func() error { return readErr }
}

func (c *rulesCommand) test(ctx context.Context, args []string) error {
	fs := newFlagSet("rules test", "[--rules DIR]... [--attack-from-config=false] [--config FILE] [--builtin=false] [--json] FILE|-", c.stdout, c.stderr)
	rf := addRuleFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per input line")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return &usageError{"rules test takes one log file (- for standard input)"}
	}
	d, err := rf.detector(c.stderr)
	if err != nil {
		return err
	}
	in, err := daemon.OpenLog(files[0])
	if err != nil {
		return err
	}
	out := bufio.NewWriter(c.stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	counts := map[string]int{}
	shapes := map[string]int{}
	refused := map[string]int{} // "REASON\x00SHAPE"
	shadowed := map[string]int{}
	lines, readErr := classify(ctx, d, in, files[0])
	last := 0
	for {
		var l classified
		var more bool
		select {
		case <-ctx.Done():
		case l, more = <-lines:
		}
		if ctx.Err() != nil {
			// Checked after the select too: classify also stops on it, and the end
			// of its lines may be what the select took.
			return fmt.Errorf("interrupted (%v) at line %d of %s: the lines before it are shown", context.Cause(ctx), last+1, files[0])
		}
		if !more {
			break
		}
		last = l.n
		t, v, n := l.line, l.v, l.n
		counts[t.Verdict]++
		switch {
		case l.refused != "":
			refused[l.refused+"\x00"+l.shape]++
		case l.shape != "":
			shapes[l.shape]++
		}
		if t.Shadows != "" {
			shadowed[t.Shadows]++
		}
		if *asJSON {
			if err := enc.Encode(t); err != nil {
				return err
			}
			continue
		}
		if v.Outcome == detect.Continuation {
			fmt.Fprintf(out, "%6d  %-8s  the next line of PostgreSQL's message above: part of that record\n", n, t.Verdict)
			continue
		}
		fmt.Fprintf(out, "%6d  %-8s  %s\n", n, t.Verdict, describe(t, v.Err))
	}
	if err := readErr(); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(out, "\n%s, %d normal, %d unknown, %d unparsed", counted(counts["event"], "event"), counts["normal"], counts["unknown"], counts["unparsed"])
		if n := counts["continuation"]; n > 0 {
			fmt.Fprintf(out, ", %s of PostgreSQL's", counted(n, "continuation line"))
		}
		fmt.Fprintln(out, ".")
		if len(shadowed) > 0 {
			fmt.Fprintln(out, "\nNormal rules that match lines an attack rule decided (attack rules come first: on those lines these never take effect; write them for other lines):")
			for _, r := range topShapes(shadowed, len(shadowed)) {
				fmt.Fprintf(out, "%8d  %s\n", shadowed[r], r)
			}
		}
		if len(shapes) > 0 {
			fmt.Fprintln(out, "\nMost frequent unknown shapes (abusewatch rules suggest FILE proposes rules for them):")
			for _, s := range topShapes(shapes, 10) {
				fmt.Fprintf(out, "%8d  %s\n", shapes[s], s)
			}
		}
		if len(refused) > 0 {
			fmt.Fprintln(out, "\n"+refusedTitle)
			for _, k := range topShapes(refused, 10) {
				reason, shape, _ := strings.Cut(k, "\x00")
				fmt.Fprintf(out, "%8d  %s\n          (%s)\n", refused[k], shape, reason)
			}
		}
	}
	if d.bad > 0 {
		// After the verdicts, which are what the others make of the log: a check
		// (rules test --rules new/ log && install) must not pass a set that does not
		// load, which the daemon refuses.
		if d.bad == 1 {
			return errors.New("1 rule does not compile (see above): the daemon refuses to start, or to reload, with it")
		}
		return fmt.Errorf("%d rules do not compile (see above): the daemon refuses to start, or to reload, with them", d.bad)
	}
	return nil
}

// describe says in one line what a verdict was made of.
func describe(t testedLine, err error) string {
	var parts []string
	if t.Class != "" {
		parts = append(parts, t.Class)
	}
	if t.Addr != "" {
		parts = append(parts, "from "+t.Addr)
	}
	if t.Host != "" {
		parts = append(parts, "host "+t.Host)
	}
	if t.Port != 0 {
		parts = append(parts, "port "+strconv.Itoa(int(t.Port)))
	}
	if t.DPort != 0 {
		parts = append(parts, "to port "+strconv.Itoa(int(t.DPort)))
	}
	if t.Proto != "" {
		parts = append(parts, "proto "+t.Proto)
	}
	if t.Flags != "" {
		parts = append(parts, "flags "+strconv.Quote(t.Flags))
	}
	if t.User != "" {
		parts = append(parts, "user "+strconv.Quote(t.User))
	}
	if t.Rule != "" {
		parts = append(parts, "by "+t.Rule)
	}
	if t.Shadows != "" {
		parts = append(parts, "(normal rule "+t.Shadows+" matches too, and never takes effect: attack rules come first)")
	}
	switch {
	case err != nil:
		parts = append(parts, "("+err.Error()+")")
	case t.Verdict == detect.Unknown.String() && t.Rule == "":
		// Said of every unknown line: the others say which rule refused it, and a
		// bare "unknown" (vsftpd's CONNECT, any line of a program without rules) read
		// as if something were missing from the output (review 44 L8).
		parts = append(parts, "(no attack or normal rule matches it)")
	}
	return strings.Join(parts, " ")
}

func topShapes(counts map[string]int, n int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys[:min(n, len(keys))]
}

// refusedTitle heads the unknown shapes an attack rule matched and took no event from:
// a normal rule for them would hide why (pure-ftpd's failures until numeric_hosts names
// it), so none is proposed.
const refusedTitle = "Unknown shapes an attack rule matched and took no event from (no normal rule is proposed for them: fix the reason given, see the README):"

// suggestion is a proposed normal rule for one shape.
type suggestion struct {
	Shape  string `json:"shape"`
	Count  int64  `json:"count"`
	Sample string `json:"sample"`
	Rule   string `json:"rule"`
}

func (c *rulesCommand) suggest(ctx context.Context, args []string) error {
	fs := newFlagSet("rules suggest", "[--rules DIR]... [--attack-from-config=false] [--config FILE] [--since T] [--limit N] [--json] [FILE]", c.stdout, c.stderr)
	rf := addRuleFlags(fs)
	f := adminFlags{config: rf.config, socket: fs.String("socket", "", "ask the daemon on this unix socket `path` instead of the configured one")}
	f.asJSON = fs.Bool("json", false, "print JSON instead of text")
	since := fs.String("since", "7d", "without FILE: shapes seen after `T`, a duration back from now or a date")
	limit := fs.Int("limit", 10, "propose rules for the `N` most frequent shapes")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	var shapes []store.Shape
	var refused []daemon.RefusedShape
	switch len(files) {
	case 0: // the daemon's (or the store's) unknown shapes
		cfg, _ := f.loadConfig() // when it does not load, the query says so
		from, err := daemon.ParseSince(*since, time.Now(), shownZone(cfg))
		if err != nil {
			return &usageError{err.Error()}
		}
		// One more than the limit: the entry that counts the shapes past the store's
		// list may be among them, and no rule is proposed for it.
		checked, cfg, err := readShapes(ctx, f, c.stderr, from, moreThan(*limit))
		if err != nil {
			return err
		}
		shapes, refused = checked.Unknown, checked.Refused
		if i := slices.IndexFunc(shapes, func(sh store.Shape) bool { return sh.Shape == store.OtherShapes }); i >= 0 {
			if !*f.asJSON {
				defer fmt.Fprintf(c.stdout, "\n# %d records of other shapes, counted together as the list of %d shapes is full: no rule is\n"+
					"# proposed for them (one made from one of their lines drops that one shape). The daemon's\n"+
					"# retention pass makes room in the list for their shapes.\n", shapes[i].Count, store.MaxShapes)
			}
			shapes = slices.Delete(slices.Clone(shapes), i, i+1)
		}
		if *limit > 0 && len(shapes) > *limit {
			shapes = shapes[:*limit]
		}
		if len(checked.Decided) > 0 && !*f.asJSON {
			// The rules added since are done with: not proposed again.
			defer fmt.Fprintln(c.stdout, "\n# "+leftOut(checked.Decided, daemon.Command(*f.config, "unknown", append(sinceArgs(fs, *since), "--all")...)+" lists"))
		}
		if len(refused) > 0 && !*f.asJSON {
			defer printRefused(c.stdout, refused)
		}
		if len(shapes) == 0 && !*f.asJSON {
			fmt.Fprintf(c.stdout, "No unknown records since %s", shownTime(from, shownZone(cfg)))
			if len(refused) > 0 {
				fmt.Fprint(c.stdout, " to propose a normal rule for")
			} else if len(checked.Decided) > 0 {
				fmt.Fprint(c.stdout, " that the rules loaded now leave unknown")
			}
			fmt.Fprintln(c.stdout, ": nothing to suggest.")
			return olderShapes(ctx, c.stdout, f, c.stderr, cfg, "rules suggest")
		}
	case 1: // the unknown records of a log, under the chosen rules
		if shapes, refused, err = c.shapesOf(ctx, rf, files[0], *limit); err != nil {
			return err
		}
		if len(refused) > 0 && !*f.asJSON {
			defer printRefused(c.stdout, refused)
		}
	default:
		return &usageError{"rules suggest takes at most one log file"}
	}
	out := make([]suggestion, 0, len(shapes))
	for _, sh := range shapes {
		rule, err := detect.Suggest(sh.Sample)
		if err != nil {
			continue // a sample without a syslog header
		}
		out = append(out, suggestion{Shape: sh.Shape, Count: sh.Count, Sample: sh.Sample, Rule: rule})
	}
	if *f.asJSON {
		return printJSON(c.stdout, out)
	}
	if len(out) == 0 && len(refused) > 0 {
		fmt.Fprintln(c.stdout, "No unknown records to propose a normal rule for.")
		return nil
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stdout, "No unknown records: nothing to suggest.")
		return nil
	}
	fmt.Fprintln(c.stdout, "# Proposed normal rules, most frequent shape first. Review each one: a rule that")
	fmt.Fprintln(c.stdout, "# is too wide hides attacks. Add the ones you accept to a file in a normal_dirs")
	fmt.Fprintln(c.stdout, "# directory, then run `abusewatch reload`.")
	for _, s := range out {
		fmt.Fprintf(c.stdout, "\n# %d× %s\n# e.g. %s\n%s\n", s.Count, s.Shape, s.Sample, s.Rule)
	}
	return nil
}

// shapesOf classifies a log and returns its unknown shapes, most frequent first, and
// apart those an attack rule matched and took no event from (every one), for which no
// normal rule is proposed.
func (c *rulesCommand) shapesOf(ctx context.Context, rf ruleFlags, file string, limit int) ([]store.Shape, []daemon.RefusedShape, error) {
	d, err := rf.detector(c.stderr)
	if err != nil {
		return nil, nil, err
	}
	in, err := daemon.OpenLog(file)
	if err != nil {
		return nil, nil, err
	}
	byShape := map[string]*store.Shape{}
	refusedShape := map[string]*daemon.RefusedShape{}
	lines, readErr := classify(ctx, d, in, file)
	for more := true; more; {
		var l classified
		select {
		case <-ctx.Done():
		case l, more = <-lines:
		}
		if ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		if !more || l.shape == "" {
			continue
		}
		t := l.v.Header.Time
		if l.refused != "" {
			k := l.refused + "\x00" + l.shape
			if sh := refusedShape[k]; sh != nil {
				sh.Count++
				sh.Last = t
				continue
			}
			refusedShape[k] = &daemon.RefusedShape{Shape: store.Shape{Shape: l.shape, Count: 1, First: t, Last: t, Sample: l.text}, Rule: l.v.Rule, Reason: l.refused}
			continue
		}
		if sh := byShape[l.shape]; sh != nil {
			sh.Count++
			sh.Last = t
			continue
		}
		byShape[l.shape] = &store.Shape{Shape: l.shape, Count: 1, First: t, Last: t, Sample: l.text}
	}
	if err := readErr(); err != nil {
		return nil, nil, err
	}
	refused := make([]daemon.RefusedShape, 0, len(refusedShape))
	for _, sh := range refusedShape {
		refused = append(refused, *sh)
	}
	slices.SortFunc(refused, func(a, b daemon.RefusedShape) int { return store.MostSeen(a.Shape, b.Shape) })
	out := make([]store.Shape, 0, len(byShape))
	for _, sh := range byShape {
		out = append(out, *sh)
	}
	slices.SortFunc(out, store.MostSeen)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, refused, nil
}

// printRefused says, after rules suggest's proposals, which unknown shapes it proposes
// no rule for and why, as comments.
func printRefused(w io.Writer, refused []daemon.RefusedShape) {
	fmt.Fprintln(w, "\n# "+refusedTitle)
	for _, s := range refused {
		fmt.Fprintf(w, "#   %d× %s\n#     (%s; by %s)\n", s.Count, s.Shape.Shape, s.Reason, s.Rule)
	}
}

// moreThan is one more than limit, or 0 (all) for 0.
func moreThan(limit int) int {
	if limit <= 0 {
		return 0
	}
	return limit + 1
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
