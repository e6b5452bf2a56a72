package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// scanCommand is `abusewatch scan`: run existing log files through the pipeline once.
type scanCommand struct {
	stdout, stderr io.Writer
}

func (c *scanCommand) Name() string { return "scan" }
func (c *scanCommand) Synopsis() string {
	return "read existing log files (plain or gzip, bzip2, xz, zstd) once and report what they show"
}

// scanSummary is what `scan --json` prints.
type scanSummary struct {
	Lines          int64   `json:"lines"`
	Events         int64   `json:"events"`
	Normal         int64   `json:"normal"`
	Unknown        int64   `json:"unknown"`
	Unparsed       int64   `json:"unparsed"`
	Continued      int64   `json:"continued"` // PostgreSQL's lines that continue the one before: part of that record
	Skipped        int64   `json:"skipped_before_since"`
	Duplicate      int64   `json:"duplicate"`      // recognised lines whose record another file held first: counted once
	AlreadyStored  int64   `json:"already_stored"` // recognised lines whose record was stored before (a merged log's, --reread): not stored again
	Incidents      int     `json:"incidents"`
	Reports        int64   `json:"reports"`
	Delivered      int64   `json:"delivered"`          // reports sent (or written to the maildir), this scan's or approved before
	Alerted        int64   `json:"compromises_mailed"` // possible compromises mailed to mail.admin
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// ReadBefore: the files whose lines were read before, up to an offset (by a scan or
	// the daemon, under their name or another), and those truncated since.
	ReadBefore []daemon.ScannedFile `json:"read_before"`
}

func (c *scanCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "[--config FILE] [--rules DIR]... [--attack-from-config=false] [--since T] [--reread] [--json] [-v] FILE...", c.stdout, c.stderr)
	config := fs.String("config", daemon.DefaultConfigPath, "the config `file`")
	since := fs.String("since", "", "skip events before `T`: a duration back from now (\"36h\", \"7d\") or a date (\"2026-11-01\", RFC 3339)")
	reread := fs.Bool("reread", false, "read each file whole, what was read of it before too, and store only the records not stored yet: an attack rule written since applies to the lines read before")
	asJSON := fs.Bool("json", false, "print one summary object instead of the table")
	verbose := fs.Bool("v", false, "log what each stage does, not only warnings")
	ruleDirs := &ruleDirsFlag{}
	fs.Var(ruleDirs, "rules", rulesUsage+"; as rules test --rules")
	attackFromConfig := fs.Bool("attack-from-config", true, attackFromConfigUsage)
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return &usageError{"name at least one log file to scan"}
	}
	if slices.Contains(files, "-") {
		// A file's position is kept, so that scanning it again adds nothing twice; a
		// stream has none.
		return &usageError{"scan reads log files by name, not standard input (\"-\"): it keeps how far each was read, so a second scan adds nothing twice; save the input to a file first, e.g. journalctl -u ssh > ssh.log (rules test - reads standard input)"}
	}
	cfg, err := daemon.LoadConfig(*config)
	if err != nil {
		return err
	}
	var from time.Time
	if *since != "" {
		if from, err = daemon.ParseSince(*since, time.Now(), shownZone(cfg)); err != nil {
			return &usageError{err.Error()}
		}
	}
	if len(*ruleDirs) > 0 {
		// What rules test --rules tried: a scan stores its lines for good, and its
		// lines of the admin's attack rules were stored as unknown.
		if err := withRuleDirs(cfg, *ruleDirs, *attackFromConfig); err != nil {
			return err
		}
	}
	// Before the store is opened, which creates it: a mistyped name, or a broken rule
	// file, made a state database (root's, under sudo) and then failed.
	if err := readableFiles(files); err != nil {
		return err
	}
	if _, err := daemon.Check(cfg); err != nil { // a broken rule file, a bad transport
		return err
	}
	st, err := store.Open(cfg.Store.Path, daemon.StoreTimeout)
	if errors.Is(err, store.ErrLocked) { // only then: a damaged file, a wrong owner have their own fix
		return fmt.Errorf("%w\nscan needs the database to itself: stop the daemon, or point --config at a config with its own [store] path", err)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	sayMigrated(c.stderr, st)
	pipe, err := daemon.NewPipeline(cfg, st, newLogger(c.stderr, logLevel(*verbose)))
	if err != nil {
		return err
	}
	pipe.RecordChanges() // for the table of what the files made
	if *reread {
		pipe.Reread()
	}
	start := time.Now()
	scanned, scanErr := pipe.Scan(ctx, files, from)
	if _, readOn := errors.AsType[*daemon.ProcessingFailed](scanErr); scanErr != nil && !readOn {
		return scanErr
	}
	// After a ProcessingFailed every file was read to its end even so: the round and the
	// summary follow, and the exit status is still 1, for a script that runs scan
	// (README, scan).
	now := time.Now()
	failed := errors.Join(scanErr, pipe.Tick(ctx, now))
	touched, err := pipe.Touched(now)
	if err != nil {
		return err
	}
	n := pipe.Counters
	sum := scanSummary{
		Lines: n.Lines.Load(), Events: n.Events.Load(), Normal: n.Normal.Load(), Unknown: n.Unknown.Load(),
		Unparsed: n.Unparsed.Load(), Continued: n.Continued.Load(), Skipped: n.Skipped.Load(), Duplicate: n.Duplicate.Load(), AlreadyStored: n.AlreadyStored.Load(), Incidents: len(touched), Reports: n.Reports.Load(), Delivered: n.Delivered.Load(), Alerted: n.Alerted.Load(),
		ElapsedSeconds: time.Since(start).Seconds(), ReadBefore: orEmpty(scanned),
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
		return failed
	}
	for _, sf := range scanned {
		fmt.Fprintln(c.stdout, readBeforeLine(sf))
	}
	fmt.Fprintf(c.stdout, "Read %s: %s, %d normal, %d unknown, %d unparsed", counted(int(sum.Lines), "line"), counted(int(sum.Events), "event"), sum.Normal, sum.Unknown, sum.Unparsed)
	if sum.Continued > 0 {
		fmt.Fprintf(c.stdout, ", %s of PostgreSQL's", counted(int(sum.Continued), "continuation line"))
	}
	if sum.Skipped > 0 {
		fmt.Fprintf(c.stdout, ", %s before --since skipped (a later scan of the same file will not read them either, unless with --reread)", counted(int(sum.Skipped), "event"))
	}
	if sum.Duplicate > 0 {
		fmt.Fprintf(c.stdout, ", %d duplicate (the same record in another file read first: counted once)", sum.Duplicate)
	}
	if sum.AlreadyStored > 0 {
		fmt.Fprintf(c.stdout, ", %s already stored, not stored again", counted(int(sum.AlreadyStored), "record"))
	}
	fmt.Fprintf(c.stdout, ".\n%s, %s written (mode %s).\n\n", counted(sum.Incidents, "incident"), counted(int(sum.Reports), "report"), cfg.Policy.Mode)
	if len(touched) == 0 {
		if sum.Lines == 0 {
			fmt.Fprintf(c.stdout, "Nothing new: these files hold no line that was not read before (positions in %s; remove it to start over).\n", cfg.Store.Path)
		}
		c.whereReportsAre(cfg, sum)
		return failed
	}
	tw := newTable(c.stdout)
	loc := shownZone(cfg)
	// One zone for both columns: a LAST SEEN of the first's day shows only its time.
	zone := zoneTitle("", loc, append(timesOf(touched, func(t daemon.TouchedIncident) time.Time { return t.Incident.First }),
		timesOf(touched, func(t daemon.TouchedIncident) time.Time { return t.Incident.Last })...))
	fmt.Fprintf(tw, "SOURCE\tCONNECTIONS\tLINES\tFIRST SEEN%s\tLAST SEEN%s\tHOSTS\tREPORT\n", zone, zone)
	for _, t := range touched {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\n", sourceCell(t.Incident), t.Incident.Attempts, t.Incident.Count,
			cellTime(t.Incident.First, loc), lastSeenCell(t.Incident.First, t.Incident.Last, loc),
			strings.Join(t.Incident.Hosts, ","), reportCell(t))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	c.whereReportsAre(cfg, sum)
	return failed
}

// readBeforeLine tells the admin that a file's lines were read before, up to where, and
// under which name, or that it no longer holds them.
func readBeforeLine(sf daemon.ScannedFile) string {
	if sf.Truncated {
		return fmt.Sprintf("%s was read before up to byte %d, but no longer holds what was read then (truncated, or truncated and written again): reading it from the start.", sf.Name, sf.Offset)
	}
	if sf.UnmarkedRotationOf != "" {
		return fmt.Sprintf("%s is a rotated %s, which a daemon followed before it kept marks of rotated files (a version older than them): "+
			"if that daemon read %s before it was rotated, its lines are now stored twice (one rotated before the daemon first started was not read by it). Reading it whole.",
			sf.Name, sf.UnmarkedRotationOf, sf.Name)
	}
	upTo := fmt.Sprintf("up to line %d / byte %d", sf.Lines, sf.Offset)
	as := sf.ReadAs
	if filepath.Dir(as) == filepath.Dir(sf.Path) {
		as = filepath.Join(filepath.Dir(sf.Name), filepath.Base(as)) // beside it: named as the file was
	}
	switch {
	case sf.Reread:
		if sf.ReadAs != sf.Path {
			upTo += ", as " + as
		}
		return fmt.Sprintf("%s was read before (%s): reading it whole again (--reread), storing only the records not stored yet.", sf.Name, upTo)
	case sf.Copy:
		return fmt.Sprintf("%s holds what was read before from %s, of which it is a copy (%s): reading only what follows.", sf.Name, as, upTo)
	case sf.ReadAs == sf.Path:
		return fmt.Sprintf("%s was read before (%s): reading only what follows.", sf.Name, upTo)
	}
	return fmt.Sprintf("%s was read before as %s (%s): reading only what follows.", sf.Name, as, upTo)
}

// lastSeenCell is an incident's last event as the scan table shows it, in the zone its
// column's title names: the time alone on the day of its first event, with the date on
// another.
func lastSeenCell(first, last time.Time, loc *time.Location) string {
	f, l := first.In(loc), last.In(loc)
	if f.Format(time.DateOnly) == l.Format(time.DateOnly) {
		return l.Format("15:04")
	}
	return l.Format(timeLayout)
}

// whereReportsAre says what became of the reports: delivered (and where the maildir
// keeps them), waiting for approval, or held.
func (c *scanCommand) whereReportsAre(cfg *daemon.Config, sum scanSummary) {
	switch {
	case sum.Delivered > 0 && cfg.Mail.Transport == "maildir":
		fmt.Fprintf(c.stdout, "%s delivered: the mails are in %s/new/.\n", counted(int(sum.Delivered), "report"), strings.TrimSuffix(cfg.Mail.Maildir, "/"))
	case sum.Delivered > 0:
		fmt.Fprintf(c.stdout, "%s sent through %s.\n", counted(int(sum.Delivered), "report"), cfg.Mail.Server)
	}
	if sum.Alerted > 0 {
		where := "."
		if cfg.Mail.Transport == "maildir" {
			where = ", in " + strings.TrimSuffix(cfg.Mail.Maildir, "/") + "/new/ too."
		}
		fmt.Fprintf(c.stdout, "%s mailed to you (%s) at once%s\n", counted(int(sum.Alerted), "possible compromise"), cfg.Mail.Admin, where)
	}
	switch {
	case sum.Reports == 0:
	case cfg.Policy.Mode == "review":
		fmt.Fprintln(c.stdout, "The reports wait for your approval: abusewatch report show ID, then abusewatch report approve ID (or --all, which leaves guesses out);")
		fmt.Fprintln(c.stdout, "the daemon's next round, or the next scan, delivers them.")
	case cfg.Policy.Mode == "observe":
		fmt.Fprintln(c.stdout, "Mode observe: the reports are kept, never sent (abusewatch outbox lists them).")
	}
}

// reportCell says where an incident's report is: of a network incident split among
// parties, where each party's is.
func reportCell(t daemon.TouchedIncident) string {
	if !t.Reported {
		return notReported(t.Unreported, "not reported yet (see the log)")
	}
	cells := []string{reportState(t.Report)}
	for _, r := range t.Shares {
		cells = append(cells, reportState(r))
	}
	return strings.Join(cells, "; ")
}

// reportState says where report r is.
func reportState(r abusewatch.Report) string {
	to := strings.Join(r.Contact.Emails, ", ")
	switch r.State {
	case abusewatch.ReportSent:
		return fmt.Sprintf("sent to %s: %s", to, r.Location)
	case abusewatch.ReportPendingApproval:
		if r.Contact.Guess {
			// In auto mode too: a guess never goes on its own.
			return fmt.Sprintf("to %s, waiting for your approval: the recipients are a guess (abusewatch report show %s)", to, r.ID[:min(len(r.ID), 12)])
		}
		return fmt.Sprintf("to %s, waiting for your approval (review mode)", to)
	case abusewatch.ReportHeld:
		return fmt.Sprintf("to %s, held (observe mode)", to)
	case abusewatch.ReportQueued:
		why := r.Waiting
		if why == "" {
			why = r.Error
		}
		if why == "" {
			return fmt.Sprintf("to %s, queued", to)
		}
		return fmt.Sprintf("to %s, queued: %s", to, why)
	default:
		return fmt.Sprintf("to %s, %s: %s", to, r.State, r.Error)
	}
}

// readableFiles checks that every file named can be read as a log: it exists, is not a
// directory and opens.
func readableFiles(files []string) error {
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		f.Close()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory: name the log files in it", name)
		}
	}
	return nil
}
