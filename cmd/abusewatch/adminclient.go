package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch/daemon"
	"github.com/abusewatch/abusewatch/store"
)

// adminFlags are the flags every admin subcommand shares.
type adminFlags struct {
	config *string
	socket *string
	asJSON *bool
}

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		config: fs.String("config", daemon.DefaultConfigPath, "the config `file` (it names the admin socket and the store)"),
		socket: fs.String("socket", "", "talk to the daemon on this unix socket `path` instead of the configured one"),
		asJSON: fs.Bool("json", false, "print JSON instead of a table"),
	}
}

// errNoDaemon means nothing answers on the admin socket.
type errNoDaemon struct {
	socket string
	err    error
}

func (e *errNoDaemon) Error() string {
	return fmt.Sprintf("the abusewatch daemon is not running (nothing answers on %s: %v)\n"+
		"Start it with: systemctl start abusewatch   (or abusewatch run --config FILE)", e.socket, e.err)
}

// adminClient speaks the daemon's admin API over its unix socket.
type adminClient struct {
	socket string
	http   *http.Client
}

// open reads the config and prepares a client for its socket. A config that does not
// load (an admin may be in the middle of editing it) still leaves the default socket to
// talk to: cfg is then nil and cfgErr says why.
func (f adminFlags) open() (cfg *daemon.Config, client *adminClient, cfgErr error) {
	cfg, cfgErr = daemon.LoadConfig(*f.config)
	socket := daemon.DefaultAdminSocket
	if cfgErr == nil {
		socket = cfg.Admin.Socket
	}
	if *f.socket != "" {
		socket = *f.socket
	}
	if socket == "" {
		return cfg, nil, cfgErr
	}
	return cfg, newAdminClient(socket), cfgErr
}

// daemonClient is the client for commands that only the running daemon can answer.
func (f adminFlags) daemonClient() (*daemon.Config, *adminClient, error) {
	cfg, client, cfgErr := f.open()
	if client == nil {
		if cfgErr != nil {
			return nil, nil, cfgErr
		}
		return nil, nil, fmt.Errorf("%s: [admin] socket is \"\": the daemon serves no admin socket; set one and restart it", *f.config)
	}
	return cfg, client, nil
}

// noSocket says whether the config turns the admin socket off (then only offline works).
func (f adminFlags) noSocket(cfg *daemon.Config) bool {
	return cfg != nil && cfg.Admin.Socket == "" && *f.socket == ""
}

// queryOrOffline asks the daemon; when none runs and the config loaded, it answers from
// the store file with local, saying so on stderr. It returns the config when it loaded.
func queryOrOffline(ctx context.Context, f adminFlags, stderr io.Writer, ask func(*adminClient) error, local func(*daemon.Config, *store.Store) error) (*daemon.Config, error) {
	cfg, client, cfgErr := f.open()
	var err error
	switch {
	case f.noSocket(cfg):
		err = fmt.Errorf("%s: [admin] socket is \"\"", cfg.File())
	case client == nil:
		return cfg, cfgErr // no config and no socket
	default:
		err = ask(client)
		var nd *errNoDaemon
		if !errors.As(err, &nd) {
			return cfg, err
		}
	}
	if cfgErr != nil {
		return cfg, fmt.Errorf("%w\nand the config does not load, so the store cannot be read directly: %v", err, cfgErr)
	}
	st, oerr := offline(cfg)
	if oerr != nil {
		return cfg, fmt.Errorf("%w\n%v", err, oerr)
	}
	defer st.Close()
	fmt.Fprintf(stderr, "The daemon is not running: using %s directly.\n", cfg.Store.Path)
	return cfg, local(cfg, st)
}

func newAdminClient(socket string) *adminClient {
	return &adminClient{socket: socket, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// call sends method path?query and decodes the JSON reply into out.
func (c *adminClient) call(ctx context.Context, method, path string, query url.Values, out any) error {
	u := "http://abusewatch" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return &errNoDaemon{socket: c.socket, err: err}
		}
		if errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("%s: permission denied: run as root or as a member of the [admin] group", c.socket)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var apiErr daemon.APIError
		if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
			return errors.New(apiErr.Error)
		}
		return fmt.Errorf("the daemon answered %s", resp.Status)
	}
	return json.Unmarshal(body, out)
}

// offline opens the store of cfg for a command that can work without the daemon; it
// refuses clearly while a daemon holds it.
func offline(cfg *daemon.Config) (*store.Store, error) {
	st, err := store.Open(cfg.Store.Path, daemon.StoreTimeout)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w, but it does not answer on its admin socket: check `systemctl status abusewatch`", err)
	}
	return st, err
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
