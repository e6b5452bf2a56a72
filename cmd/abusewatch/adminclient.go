package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// The admin commands' side of the admin socket. Errors go to stderr as text, with or
// without --json: stdout carries an answer or nothing.

// adminFlags are the flags every admin subcommand shares.
type adminFlags struct {
	config  *string
	socket  *string
	asJSON  *bool
	timeout *time.Duration // nil: defaultAdminTimeout
	loaded  *loadedConfig  // nil: the config is read at each use
}

// loadedConfig is the config as the command read it, once.
type loadedConfig struct {
	done bool
	cfg  *daemon.Config
	err  error
}

// defaultAdminTimeout is how long a command waits for the daemon's answer: a daemon
// catching up on a backlog of logs answers late, and at 30 s `status`, the command to
// see that with, gave up first.
const defaultAdminTimeout = 2 * time.Minute

// slowAnswer is how long a command waits silently before it says it is waiting.
const slowAnswer = 5 * time.Second

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	timeout := defaultAdminTimeout
	fs.Var(waitFlag{&timeout}, "timeout", "wait at most `D` for the daemon's answer, e.g. \"30s\", \"10m\" or \"1d\" (a busy daemon answers late)")
	return adminFlags{
		config:  fs.String("config", daemon.DefaultConfigPath, "the config `file` (it names the admin socket and the store)"),
		socket:  fs.String("socket", "", "talk to the daemon on this unix socket `path` instead of the configured one"),
		asJSON:  fs.Bool("json", false, "print JSON instead of a table (errors still go to stderr as text)"),
		timeout: &timeout,
		loaded:  &loadedConfig{},
	}
}

// waitFlag is --timeout: a duration as the config writes one ("90s", "10m", "1d"), above
// 0. It was a Go duration: "5d" was refused while every other duration takes days, and
// "-5s" fell back to the default without a word.
type waitFlag struct{ d *time.Duration }

func (w waitFlag) String() string {
	if w.d == nil {
		return ""
	}
	s := daemon.Duration{Duration: *w.d}.String() // "2m0s", "1d"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (w waitFlag) Set(s string) error {
	d, err := daemon.ParseDuration(s)
	if err != nil {
		return err
	}
	if d <= 0 {
		return fmt.Errorf("want a time above 0 to wait, e.g. \"30s\" or \"10m\"")
	}
	*w.d = d
	return nil
}

// loadConfig reads the config the first time it is asked for.
func (f adminFlags) loadConfig() (*daemon.Config, error) {
	if f.loaded == nil {
		return daemon.LoadConfig(*f.config)
	}
	if !f.loaded.done {
		f.loaded.cfg, f.loaded.err = daemon.LoadConfig(*f.config)
		f.loaded.done = true
	}
	return f.loaded.cfg, f.loaded.err
}

func (f adminFlags) wait() time.Duration {
	if f.timeout == nil || *f.timeout <= 0 {
		return defaultAdminTimeout
	}
	return *f.timeout
}

// socketSource is where a client's socket path came from, which decides what "nothing
// answers" may mean.
type socketSource int

const (
	fromConfig  socketSource = iota // [admin] socket
	fromFlag                        // --socket
	fromDefault                     // the config does not load: the default, a guess
)

// open reads the config and prepares a client for its socket. A config that does not
// load (an admin may be in the middle of editing it) names no socket: the default is
// tried, and stderr says so first, since the daemon may well listen elsewhere. cfg is
// then nil and cfgErr says why. client is nil only when the config turns the socket off.
func (f adminFlags) open(stderr io.Writer) (cfg *daemon.Config, client *adminClient, cfgErr error) {
	cfg, cfgErr = f.loadConfig()
	var socket string
	var from socketSource
	switch {
	case *f.socket != "":
		socket, from = *f.socket, fromFlag
		if cfgErr != nil {
			fmt.Fprintf(stderr, "%v: the config does not load; asking the daemon on %s (--socket)\n", cfgErr, socket)
		}
	case cfgErr != nil:
		socket, from = daemon.DefaultAdminSocket, fromDefault
		fmt.Fprintf(stderr, "%v: the config does not load, so its [admin] socket is unknown; trying the default %s; use --socket PATH\n",
			cfgErr, daemon.DefaultAdminSocket)
	case cfg.Admin.Socket == "":
		return cfg, nil, nil
	default:
		socket, from = cfg.Admin.Socket, fromConfig
	}
	return cfg, newAdminClient(socket, from, *f.config, f.wait(), stderr), cfgErr
}

// daemonClient is the client for commands that only the running daemon can answer.
func (f adminFlags) daemonClient(stderr io.Writer) (*daemon.Config, *adminClient, error) {
	cfg, client, _ := f.open(stderr)
	if client == nil {
		return nil, nil, fmt.Errorf("%s: [admin] socket is \"\": the daemon serves no admin socket; set one and restart it", cfg.File())
	}
	return cfg, client, nil
}

// queryOrOffline asks the daemon; when none runs and the config loaded, it answers from
// the store file with local, saying so on stderr. It returns the config when it loaded.
// It never creates the store: with none yet, local answers from an empty one, as
// "nothing found" (a root query before the first start made a root-owned file that the
// daemon could not open).
//
// The store is opened read-only: a query leaves the file as it is, and reads it while its
// file system is mounted read-only.
func queryOrOffline(ctx context.Context, f adminFlags, stderr io.Writer, ask func(*adminClient) error, local func(*daemon.Config, *store.Store) error) (*daemon.Config, error) {
	return offline(ctx, f, stderr, store.OpenReadOnly, ask, local)
}

// changeOrOffline is queryOrOffline for a change that is kept without a daemon too (an
// exclusion before the first start): the store is created when missing, as Open makes it.
func changeOrOffline(ctx context.Context, f adminFlags, stderr io.Writer, ask func(*adminClient) error, local func(*daemon.Config, *store.Store) error) (*daemon.Config, error) {
	return offline(ctx, f, stderr, store.Open, ask, local)
}

// changeStoredOrOffline is changeOrOffline for a change to what is stored (approve,
// reject, the removal of an exclusion): a missing store is not made, since it holds
// nothing to change, and answers as an empty one.
func changeStoredOrOffline(ctx context.Context, f adminFlags, stderr io.Writer, ask func(*adminClient) error, local func(*daemon.Config, *store.Store) error) (*daemon.Config, error) {
	return offline(ctx, f, stderr, store.OpenExisting, ask, local)
}

func offline(ctx context.Context, f adminFlags, stderr io.Writer, open func(string, time.Duration) (*store.Store, error),
	ask func(*adminClient) error, local func(*daemon.Config, *store.Store) error) (*daemon.Config, error) {
	cfg, client, cfgErr := f.open(stderr)
	var nd *errNoDaemon
	if client != nil {
		err := ask(client)
		if !errors.As(err, &nd) {
			return cfg, err
		}
	}
	if cfgErr != nil {
		return cfg, fmt.Errorf("%w\nThe config does not load, so the store cannot be read directly either: fix it (abusewatch check-config --config %s shows the first error)",
			nd, *f.config)
	}
	st, err := open(cfg.Store.Path, daemon.StoreTimeout)
	absent := errors.Is(err, store.ErrNoDatabase)
	if absent {
		st, err = store.Empty(cfg.Store.Path)
	}
	switch {
	case errors.Is(err, store.ErrLocked) && nd == nil:
		return cfg, fmt.Errorf("%s is in use by another process, most likely the daemon, and [admin] socket is \"\" in %s: "+
			"the daemon serves no admin socket; set one and restart it, or stop it to use the store directly", cfg.Store.Path, cfg.File())
	case errors.Is(err, store.ErrLocked):
		return cfg, fmt.Errorf("%s, but the state database %s is in use by another process, most likely the daemon, which does not answer on its admin socket.\n"+
			"If you changed [admin] socket since it started, it listens on the old path until it is restarted: use --socket OLD_PATH or restart it (systemctl restart abusewatch); "+
			"otherwise check: systemctl status abusewatch", nd.nothing(), cfg.Store.Path)
	case err != nil && nd != nil:
		return cfg, fmt.Errorf("%w\nThe store cannot be read directly either: %v", nd, err)
	case err != nil:
		return cfg, err
	}
	defer st.Close()
	sayMigrated(stderr, st)
	if absent {
		fmt.Fprintf(stderr, "The daemon is not running, and there is no state database at %s yet: the daemon has not run and nothing was scanned, so nothing is known yet.\n",
			cfg.Store.Path)
	} else {
		fmt.Fprintf(stderr, "The daemon is not running: using %s directly.\n", cfg.Store.Path)
	}
	return cfg, local(cfg, st)
}

// sayMigrated says on stderr what opening st did to a file of an older schema (a
// change made without the daemon, a scan): an older abusewatch can no longer open it.
func sayMigrated(stderr io.Writer, st *store.Store) {
	if m, ok := st.Migrated(); ok {
		fmt.Fprintf(stderr, "%s.\n", m)
	}
	for _, n := range st.Notes() { // a copy left by a stopped compact, removed
		fmt.Fprintf(stderr, "%s.\n", n)
	}
}

// adminClient speaks the daemon's admin API over its unix socket.
type adminClient struct {
	socket  string
	from    socketSource
	config  string // the --config given, for the hints
	timeout time.Duration
	stderr  io.Writer // where a slow answer is told; nil: nowhere
	http    *http.Client
}

func newAdminClient(socket string, from socketSource, config string, timeout time.Duration, stderr io.Writer) *adminClient {
	return &adminClient{socket: socket, from: from, config: config, timeout: timeout, stderr: stderr, http: &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// apiPath is the API path of segments, each escaped: what the admin typed (an address,
// a report ID) stays one segment, whatever characters it holds.
func apiPath(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// call sends method path?query (path escaped, as apiPath makes it) and decodes the
// JSON reply into out. Its errors say what was asked and why it failed, in words: never
// the request's internal URL.
func (c *adminClient) call(ctx context.Context, method, path string, query url.Values, out any) error {
	what := asking(method, path)
	u := "http://abusewatch" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("asking the daemon %s: %v", what, unwrapURL(err))
	}
	body, status, err := c.do(req)
	if err != nil {
		return c.failed(ctx, method, path, what, err)
	}
	if status/100 != 2 {
		var apiErr daemon.APIError
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
			return &daemonError{msg: apiErr.Error}
		}
		return &daemonError{msg: fmt.Sprintf("asking the daemon %s: it answered %d %s (an older daemon? restart it after an upgrade)",
			what, status, http.StatusText(status))}
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("asking the daemon %s: its answer does not read: %v", what, err)
	}
	return nil
}

// do sends req and reads the whole answer, saying on stderr when the answer is slow in
// coming: a busy daemon may take a while, and silence looks like a hang.
func (c *adminClient) do(req *http.Request) ([]byte, int, error) {
	var wg sync.WaitGroup
	answered := make(chan struct{})
	if c.stderr != nil && c.timeout > slowAnswer {
		wg.Go(func() {
			select {
			case <-time.After(slowAnswer):
				fmt.Fprintf(c.stderr, "The daemon has not answered in %s; waiting up to %s (--timeout)…\n", seconds(slowAnswer), seconds(c.timeout))
			case <-answered:
			}
		})
	}
	defer wg.Wait()
	defer close(answered)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return body, resp.StatusCode, err
}

// failed turns a failed exchange with the daemon into an error that says what it means.
func (c *adminClient) failed(ctx context.Context, method, path, what string, err error) error {
	err = unwrapURL(err)
	switch {
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED):
		return &errNoDaemon{socket: c.socket, from: c.from, config: c.config, refused: errors.Is(err, syscall.ECONNREFUSED)}
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("asking the daemon %s: %s: permission denied: run as root or as a member of the [admin] group", what, c.socket)
	case ctx.Err() != nil:
		return fmt.Errorf("asking the daemon %s: interrupted", what)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		busy := "it may be busy (status shows how far behind each log is)"
		if path == "/v1/status" {
			busy = "it may be busy (its log says with what: journalctl -u abusewatch)"
		}
		again := "; try again"
		if method != http.MethodGet {
			again = " and may still do it: check before you try again"
		}
		return fmt.Errorf("asking the daemon %s: the daemon did not answer within %s: %s%s (--timeout D waits longer)",
			what, seconds(c.timeout), busy, again)
	default:
		return fmt.Errorf("asking the daemon on %s %s: %v", c.socket, what, err)
	}
}

// unwrapURL is err without the *url.Error around it, which quotes the internal URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// seconds is d as "120 s", "0.5 s".
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// asking is what a request asks, in words, for its errors.
func asking(method, path string) string {
	var seg []string
	for _, s := range strings.Split(strings.TrimPrefix(path, "/v1/"), "/") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		seg = append(seg, s)
	}
	arg := strings.Join(seg[1:], "/")
	switch seg[0] {
	case "status":
		return "for its status"
	case "reload":
		return "to reload its config and rules"
	case "incidents":
		return "for the incidents"
	case "unknown":
		return "for the unknown records"
	case "ip", "net":
		return "about " + arg
	case "exclude":
		if method == http.MethodDelete {
			return "to undo an exclusion"
		}
		return "to exclude a network"
	case "pardon":
		return "to pardon a network"
	case "exclusions":
		return "for the exclusions"
	case "outbox":
		return "for the outbox"
	case "reports":
		if method == http.MethodPost {
			return "to " + arg + " reports"
		}
		return "for report " + arg
	case "preview":
		return "for the report it would write about " + arg
	}
	return "for " + path
}

// daemonError is the daemon's own answer that it could not do what was asked.
type daemonError struct{ msg string }

func (e *daemonError) Error() string { return e.msg }

// errNoDaemon means nothing answers on the admin socket. What that means depends on
// where the path came from: with [admin] socket changed since the daemon started, it
// listens on the old path; with the config broken, the default was only a guess.
type errNoDaemon struct {
	socket  string
	from    socketSource
	config  string
	refused bool // the socket is there, nobody listens: a daemon that stopped left it
}

// why is the system's reason, in short.
func (e *errNoDaemon) why() string {
	if e.refused {
		return "connection refused"
	}
	return "no such file"
}

// nothing is the fact alone: "nothing answers on S (no such file)".
func (e *errNoDaemon) nothing() string {
	return fmt.Sprintf("nothing answers on %s (%s)", e.socket, e.why())
}

func (e *errNoDaemon) Error() string {
	start := "systemctl start abusewatch   (or abusewatch run --config " + e.config + ")"
	where := "its log says where it listens: journalctl -u abusewatch -g 'admin socket ready'"
	switch {
	case e.from == fromDefault:
		return fmt.Sprintf("nothing answers on the default socket %s either (%s): a running daemon listens on the socket its config named when it started: "+
			"give that with --socket PATH (%s)", e.socket, e.why(), where)
	case e.refused:
		return fmt.Sprintf("the abusewatch daemon is not running: %s, a socket left by a daemon that stopped\nStart it with: %s", e.nothing(), start)
	case e.from == fromFlag:
		return fmt.Sprintf("%s: no daemon listens there (%s).\nIf the daemon is not running, start it with: %s", e.nothing(), where, start)
	}
	return fmt.Sprintf("%s.\nIf the daemon is not running, start it with: %s\n"+
		"If you changed [admin] socket since it started, it listens on the old path until it is restarted: use --socket OLD_PATH or restart it (systemctl restart abusewatch).",
		e.nothing(), start)
}

// checkConfigAndRules loads the config file and the rules it names, as the daemon's
// reload will. A part the admin may not read (the daemon reads it as its own user) is
// left to the daemon to judge: it is no reason to refuse.
func checkConfigAndRules(f adminFlags) error {
	cfg, err := f.loadConfig()
	if err == nil {
		_, err = daemon.LoadRules(cfg)
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	return err
}

// zoneError refuses an address written with an IPv6 zone (fe80::1%eth0), nil for one
// without: a zone names an interface of this host, and no remote address has one.
func zoneError(arg string) error {
	i := strings.IndexByte(arg, '%')
	if i < 0 {
		return nil
	}
	zone, rest := arg[i:], ""
	if j := strings.IndexByte(zone, '/'); j >= 0 {
		zone, rest = zone[:j], zone[j:]
	}
	return &usageError{fmt.Sprintf("%s: the zone %s names an interface of this host, and no remote address has one: give the address without it (%s)",
		arg, zone, arg[:i]+rest)}
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
