package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup"
	"golang.org/x/sys/unix"
)

// The admin API: a small HTTP/JSON API on a unix socket. Only root, the daemon's own user
// and members of [admin] group may talk to it (checked with the peer's credentials, not
// only the socket's mode). Every admin subcommand is a client of it.
//
//	GET  /v1/status                     uptime, sources, counters, store, outbox, last errors
//	POST /v1/reload                     re-read config and rules; a bad file keeps the old ones
//	GET  /v1/incidents?since=7d&limit=N the newest N (0: all) incidents whose last event is after since, and their number
//	GET  /v1/ip/ADDR?since=30d          what is known about an address
//	GET  /v1/net/CIDR?since=30d         what is known about a network
//	POST /v1/exclude?network=CIDR       never report the network again
//	POST /v1/pardon?network=ADDR|CIDR   forget its incidents, drop its unsent reports, never report it
//	DELETE /v1/exclude?network=CIDR     undo exclude or pardon of that network
//	GET  /v1/exclusions                 the networks never reported: policy.never_report, exclude, pardon
//	GET  /v1/outbox?state=S             the reports in the outbox (without their messages)
//	GET  /v1/outbox/settling            how many incidents wait for policy.settle before their reports
//	GET  /v1/reports/ID                 one report with its message (ID may be a prefix)
//	POST /v1/reports/approve?id=…&all=1 queue reports waiting for approval (failed=1: the failed ones)
//	POST /v1/reports/reject?id=…        never send these reports
//	GET  /v1/preview/ADDR               the report that would be written about ADDR now

// APIError is the body of every non-2xx reply.
type APIError struct {
	Error string `json:"error"`
}

// serveAdmin listens on the admin socket until ctx ends. It returns once listening.
func (d *Daemon) serveAdmin(ctx context.Context) error {
	path := d.cfg.Admin.Socket
	if path == "" {
		return nil
	}
	allowed, err := allowedPeers(d.cfg.Admin.Group)
	if err != nil {
		return &ConfigError{File: d.cfg.file, Line: keyLine(d.cfg.doc, "admin.group"), Key: "admin.group", Problem: err.Error()}
	}
	l, err := listenAdmin(path)
	if err != nil {
		return &ConfigError{File: d.cfg.file, Line: keyLine(d.cfg.doc, "admin.socket"), Key: "admin.socket",
			Problem: fmt.Sprintf("%v: set it to a path the daemon may create, or \"\" to run without the admin socket", err)}
	}
	if err := allowed.giveSocket(path); err != nil {
		l.Close()
		return &ConfigError{File: d.cfg.file, Line: keyLine(d.cfg.doc, "admin.group"), Key: "admin.group", Problem: err.Error()}
	}
	srv := &http.Server{Handler: d.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
		os.Remove(path)
	}()
	go srv.Serve(&peerCheckListener{UnixListener: l, allowed: allowed, log: d.log})
	d.log.Info("admin socket ready", "socket", path)
	return nil
}

// listenAdmin creates the socket at path, mode 0660 (giveSocket gives it to the admin
// group). A socket left by a daemon that died is replaced; one that answers is another
// daemon.
func listenAdmin(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("another abusewatch daemon is serving %s", path)
	}
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// peers is who may use the admin socket.
type peers struct {
	uid   uint32 // the daemon's own user
	gid   int    // the admin group, -1 when none
	group string // its name
}

func allowedPeers(group string) (peers, error) {
	p := peers{uid: uint32(os.Getuid()), gid: -1}
	if group == "" {
		return p, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return p, fmt.Errorf("no group %q on this host", group)
	}
	p.gid, _ = strconv.Atoi(g.Gid)
	p.group = group
	return p, nil
}

// notMember says, when there is an admin group, why this process could not give the
// socket to it, or nil: chown(2) lets a file's owner choose only among its own groups
// (root any). Preflight asks it too, so that check-config run as the service user sees it.
func (p peers) notMember() error {
	if p.gid < 0 || os.Geteuid() == 0 || os.Getegid() == p.gid {
		return nil
	}
	groups, err := os.Getgroups()
	if err != nil {
		return fmt.Errorf("the groups of this process cannot be read: %w", err)
	}
	if slices.Contains(groups, p.gid) {
		return nil
	}
	return fmt.Errorf("the daemon's user must be a member of [admin] group %s (gid %d) to give the admin socket to it, and %s, the user abusewatch runs as here, is not: "+
		"add it (usermod -aG %s %s) and restart the daemon, or set admin.group = \"\" so that only root and the daemon's user may use the socket",
		p.group, p.gid, describeUser(uint32(os.Geteuid())), p.group, userName(uint32(os.Geteuid())))
}

// giveSocket gives the socket at path to the admin group, if any, so that its members may
// connect. A refusal says why: the daemon's user is not in the group, or, for a member, a
// system call filter forbids chown (the shipped unit allows @chown and answers any call
// it forbids with EPERM, not SIGSYS).
func (p peers) giveSocket(path string) error {
	if p.gid < 0 {
		return nil
	}
	if err := p.notMember(); err != nil {
		return err
	}
	if err := os.Chown(path, -1, p.gid); err != nil {
		return fmt.Errorf("giving the admin socket to group %s (gid %d) failed although %s is a member: %w: "+
			"a system call filter may forbid chown (under systemd the unit's SystemCallFilter= must allow @chown, as deploy/abusewatch.service does), "+
			"or set admin.group = \"\"", p.group, p.gid, describeUser(uint32(os.Geteuid())), err)
	}
	return nil
}

// refusal says why the peer with cred may not use the socket, or "" when it may: root,
// the daemon's user, or a member (primary or supplementary) of the admin group. The
// supplementary groups come from the connection (SO_PEERGROUPS), as the credentials do:
// under ProtectProc=invisible the daemon cannot see other users' /proc/PID.
func (p peers) refusal(cred *unix.Ucred, groups func() ([]uint32, error)) string {
	if cred.Uid == 0 || cred.Uid == p.uid {
		return ""
	}
	who := fmt.Sprintf("%s (gid %d) is neither root nor the daemon's user %s", describeUser(cred.Uid), cred.Gid, describeUser(p.uid))
	if p.gid < 0 {
		return who + ", and [admin] group is not set"
	}
	if int(cred.Gid) == p.gid {
		return ""
	}
	gs, err := groups()
	if err != nil {
		return fmt.Sprintf("%s, and its supplementary groups cannot be read to look for [admin] group %s (gid %d): %v", who, p.group, p.gid, err)
	}
	if slices.Contains(gs, uint32(p.gid)) {
		return ""
	}
	return fmt.Sprintf("%s, and not a member of [admin] group %s (gid %d): its groups are %v", who, p.group, p.gid, gs)
}

// describeUser is "name (uid N)", or "uid N" when the user database does not name it.
func describeUser(uid uint32) string {
	if name := userName(uid); name != strconv.FormatUint(uint64(uid), 10) {
		return fmt.Sprintf("%s (uid %d)", name, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// userName is the name of uid, or the number when the user database does not name it.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username
	}
	return id
}

// peerCheckListener refuses connections from peers that may not administer the daemon.
type peerCheckListener struct {
	*net.UnixListener
	allowed peers
	log     interface{ Warn(string, ...any) }
}

func (l *peerCheckListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, why := -1, ""
		if cred, err := peerCred(c); err != nil {
			why = fmt.Sprintf("its credentials cannot be read: %v", err)
		} else {
			uid = int(cred.Uid)
			why = l.allowed.refusal(cred, func() ([]uint32, error) { return peerGroups(c) })
		}
		if why == "" {
			return c, nil
		}
		l.log.Warn("admin socket: refused a peer", "uid", uid, "reason", why)
		go refuse(c)
	}
}

// refuse answers one request on c with 403 and closes it. It reads the request first: a
// reply to a request not yet read would reach the client as a broken pipe.
func refuse(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if req, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
		req.Body.Close()
	}
	body := `{"error":"permission denied: use root, the daemon's user or a member of [admin] group"}`
	fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil {
		return nil, err
	}
	return cred, credErr
}

// peerGroups reads the supplementary groups the peer had when it connected
// (SO_PEERGROUPS, Linux 4.13 and later; golang.org/x/sys has no wrapper for it).
func peerGroups(c *net.UnixConn) ([]uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	groups := make([]uint32, 64)
	var groupsErr error
	err = raw.Control(func(fd uintptr) {
		for {
			size := uint32(4 * len(groups)) // socklen_t
			_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, fd, unix.SOL_SOCKET, unix.SO_PEERGROUPS,
				uintptr(unsafe.Pointer(&groups[0])), uintptr(unsafe.Pointer(&size)), 0)
			switch {
			case errno == unix.ERANGE && int(size/4) > len(groups): // the size it needs
				groups = make([]uint32, size/4)
				continue
			case errno != 0:
				groupsErr = fmt.Errorf("SO_PEERGROUPS: %w", errno)
			default:
				groups = groups[:size/4]
			}
			return
		}
	})
	if err != nil {
		return nil, err
	}
	return groups, groupsErr
}

// onLoop runs fn in the main loop's goroutine, where the pipeline may be read and
// replaced without locks, and waits for it.
func (d *Daemon) onLoop(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	select {
	case d.control <- func() { fn(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watchHangups turns SIGHUP into reloads on the main loop until ctx ends.
func (d *Daemon) watchHangups(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-hup:
				d.onLoop(ctx, func() {
					if _, err := d.reload(); err != nil {
						d.log.Error("reload refused: keeping the running config and rules", "err", err)
					}
				})
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (d *Daemon) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		reply(w, d.status(), nil)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		var res ReloadResult
		var rerr error
		err := d.onLoop(r.Context(), func() { res, rerr = d.reload() })
		switch {
		case err != nil:
			rerr = err
		case rerr != nil:
			// As on SIGHUP: the daemon's log (and status) is where an admin who did
			// not run the command looks for why the rules did not change.
			d.log.Error("reload refused: keeping the running config and rules", "err", rerr, "by", "abusewatch reload")
		}
		reply(w, res, rerr)
	})
	mux.HandleFunc("GET /v1/incidents", func(w http.ResponseWriter, r *http.Request) {
		since, err := sinceParam(r, 7*24*time.Hour)
		if err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		limit, err := limitParam(r, DefaultIncidentLimit)
		if err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		var incs IncidentList
		why, err := d.unreported()
		if err == nil {
			incs, err = QueryIncidents(d.store, since, limit, why)
		}
		reply(w, incs, err)
	})
	mux.HandleFunc("GET /v1/unknown", func(w http.ResponseWriter, r *http.Request) {
		since, limit, ok := shapesParams(w, r)
		if !ok {
			return
		}
		shapes, err := d.store.Shapes(since, limit)
		reply(w, shapes, err)
	})
	mux.HandleFunc("GET /v1/unknown/checked", d.serveCheckedShapes)
	mux.HandleFunc("GET /v1/ip/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil {
			replyError(w, http.StatusBadRequest, fmt.Errorf("%q is not an IP address", r.PathValue("addr")))
			return
		}
		since, err := sinceParam(r, 30*24*time.Hour)
		if err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		info, err := d.queryNetwork(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), since)
		reply(w, info, err)
	})
	mux.HandleFunc("GET /v1/net/{addr}/{bits}", func(w http.ResponseWriter, r *http.Request) {
		p, err := netip.ParsePrefix(r.PathValue("addr") + "/" + r.PathValue("bits"))
		if err != nil {
			replyError(w, http.StatusBadRequest, fmt.Errorf("%q is not a network in CIDR notation", r.PathValue("addr")+"/"+r.PathValue("bits")))
			return
		}
		if err := CheckMapped(p); err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		since, err := sinceParam(r, 30*24*time.Hour)
		if err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		info, err := d.queryNetwork(p, since)
		reply(w, info, err)
	})
	for _, action := range []string{"exclude", "pardon"} {
		mux.HandleFunc("POST /v1/"+action, func(w http.ResponseWriter, r *http.Request) {
			p, err := ParseExclusion(r.URL.Query().Get("network"))
			if err == nil {
				err = CheckExclusionWidth(p)
			}
			if err != nil {
				replyError(w, http.StatusBadRequest, err)
				return
			}
			res, err := d.exclude(r.Context(), p, action == "pardon", r.URL.Query().Get("reason"))
			reply(w, res, err)
		})
	}
	mux.HandleFunc("DELETE /v1/exclude", func(w http.ResponseWriter, r *http.Request) {
		p, err := ParseExclusion(r.URL.Query().Get("network"))
		if err != nil {
			replyError(w, http.StatusBadRequest, err)
			return
		}
		res, err := d.removeExclusion(r.Context(), p)
		reply(w, res, err)
	})
	mux.HandleFunc("GET /v1/exclusions", func(w http.ResponseWriter, r *http.Request) {
		var cfg *Config
		err := d.onLoop(r.Context(), func() { cfg = d.cfg })
		var list []ExclusionInfo
		if err == nil {
			list, err = ListExclusions(cfg, d.store)
		}
		reply(w, list, err)
	})
	mux.HandleFunc("GET /v1/outbox", func(w http.ResponseWriter, r *http.Request) {
		var states []abusewatch.ReportState
		for _, s := range r.URL.Query()["state"] {
			states = append(states, abusewatch.ReportState(s))
		}
		reports, err := d.store.Reports(states...) // without their messages
		reply(w, reports, err)
	})
	mux.HandleFunc("GET /v1/outbox/settling", d.serveSettling)
	mux.HandleFunc("GET /v1/reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		rep, ok, err := FindReport(d.store, r.PathValue("id"))
		if err == nil && !ok {
			replyError(w, http.StatusNotFound, fmt.Errorf("no report %q (abusewatch outbox lists them)", r.PathValue("id")))
			return
		}
		reply(w, rep, err)
	})
	mux.HandleFunc("POST /v1/reports/{action}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var done ReportsChanged
		var aerr error
		err := d.onLoop(r.Context(), func() {
			switch r.PathValue("action") {
			case "approve":
				done, aerr = Approve(d.cfg, d.store, Approval{IDs: q["id"], Pending: q.Get("all") == "1", Failed: q.Get("failed") == "1"}, time.Now())
			case "reject":
				done, aerr = RejectReports(d.store, q["id"], time.Now())
			default:
				aerr = fmt.Errorf("unknown action %q: approve or reject", r.PathValue("action"))
			}
		})
		if err != nil {
			aerr = err
		}
		reply(w, done, aerr)
	})
	mux.HandleFunc("GET /v1/preview/{addr}", func(w http.ResponseWriter, r *http.Request) {
		a, err := netip.ParseAddr(r.PathValue("addr"))
		if err != nil {
			replyError(w, http.StatusBadRequest, fmt.Errorf("%q is not an IP address", r.PathValue("addr")))
			return
		}
		var cfg *Config
		var finder *lookup.Finder
		if err := d.onLoop(r.Context(), func() { cfg, finder = d.cfg, d.pipe.finder }); err != nil {
			replyError(w, http.StatusServiceUnavailable, err)
			return
		}
		p, err := PreviewReport(r.Context(), cfg, d.store, finder, a, time.Now())
		reply(w, p, err)
	})
	return mux
}

// unreported is the running pipeline's Unreported, read beside the main loop: the
// pipeline's exclusions and lookups may be.
func (d *Daemon) unreported() (*Unreported, error) {
	return d.current.Load().unreported(time.Now())
}

// queryNetwork is QueryNetwork of the running daemon, for ip and net.
func (d *Daemon) queryNetwork(p netip.Prefix, since time.Time) (NetworkInfo, error) {
	why, err := d.unreported()
	if err != nil {
		return NetworkInfo{}, err
	}
	return QueryNetwork(d.store, p, since, time.Now(), Location(d.current.Load().cfg.Reporter.Timezone), why)
}

func sinceParam(r *http.Request, def time.Duration) (time.Time, error) {
	s := r.URL.Query().Get("since")
	if s == "" {
		return time.Now().Add(-def), nil
	}
	return ParseSince(s, time.Now(), time.Local) // the commands send RFC 3339
}

// limitParam is the request's limit: a count, 0 for all, def when not given.
func limitParam(r *http.Request, def int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("limit %q: want a count, or 0 for all", s)
	}
	return n, nil
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		replyError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(APIError{Error: err.Error()})
}
