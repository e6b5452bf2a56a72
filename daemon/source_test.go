package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExpandSourcesGlobSkipsRotatedFilesAndLeftovers(t *testing.T) {
	dir := t.TempDir()
	// A copy an admin or a package left (secure.bak, secure~, auth.log.dpkg-old) is no
	// live log either: following it read its lines twice.
	for _, name := range []string{"auth.log", "auth.log.1", "auth.log.2.gz", "auth.log-2026-11-21", "secure", "secure-20261122", "secure-20261122.gz", "messages.old", "kern.log",
		"secure.bak", "secure~", "auth.log.dpkg-old", "auth.log.swp", ".secure.swp"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &Config{Sources: []SourceConfig{{Files: []string{filepath.Join(dir, "auth.log*"), filepath.Join(dir, "secure*"), filepath.Join(dir, "later.log"), filepath.Join(dir, "*.old")}}}}
	got, err := ExpandSources(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "auth.log"), filepath.Join(dir, "secure"), filepath.Join(dir, "later.log")}
	if !slices.Equal(got, want) {
		t.Errorf("ExpandSources = %q\nwant %q", got, want)
	}
}

func TestIsRotatedOf(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{{"auth.log.1", true}, {"auth.log.12.gz", true}, {"auth.log-20261122", true}, {"auth.log-2026112213", true},
		{"auth.log.old", true}, {"auth.log", false}, {"auth.logger", false}, {"auth.log.bak", false}, {"auth.log.1.txt", false},
		// dateext with other dateformats: dashes, several a day (%s), another separator.
		{"auth.log-2026-11-22", true}, {"auth.log-2026-11-22.xz", true}, {"auth.log-20261122-1763769600", true},
		{"auth.log.2026-11-22.gz", true}, {"auth.log_20261122", true}, {"auth.log-2026-11-22-13", true},
		{"auth.log-web1", false}, {"auth.log-2026", false}} {
		if got := isRotatedOf(c.name, "auth.log"); got != c.want {
			t.Errorf("isRotatedOf(%q) = %v", c.name, got)
		}
		// A glob must not follow what the follower takes for a rotated copy.
		if got := looksRotated.MatchString(c.name); got != c.want && c.name != "auth.log.bak" {
			t.Errorf("looksRotated(%q) = %v", c.name, got)
		}
	}
	// Oldest first, whatever the dateformat.
	for _, tc := range []struct{ files, want []string }{
		{[]string{"auth.log-2026-11-23", "auth.log-2026-11-21.gz", "auth.log-2026-11-22"},
			[]string{"auth.log-2026-11-21.gz", "auth.log-2026-11-22", "auth.log-2026-11-23"}},
		{[]string{"auth.log-20261122-1763856000", "auth.log-20261122-1763769600.gz"},
			[]string{"auth.log-20261122-1763769600.gz", "auth.log-20261122-1763856000"}},
		{[]string{"auth.log.1", "auth.log.10.gz", "auth.log.2"}, []string{"auth.log.10.gz", "auth.log.2", "auth.log.1"}},
	} {
		sorted := slices.SortedStableFunc(slices.Values(tc.files), func(a, b string) int {
			return rotationOrder(rotatedFile{path: a}, rotatedFile{path: b}, "auth.log")
		})
		if !slices.Equal(sorted, tc.want) {
			t.Errorf("rotated files in the order %q, want %q", sorted, tc.want)
		}
	}
	if n, date := rotationKey(".20261122", ""); n >= 0 || date != "20261122" {
		t.Errorf("rotationKey(.20261122) = %d, %q; want a date", n, date)
	}
}

// next receives the next record from a follower, or fails after ten seconds.
func next(t *testing.T, out chan sourceLine) sourceLine {
	t.Helper()
	for {
		select {
		case l := <-out:
			if !l.posOnly {
				return l
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no line from the follower within 10s")
		}
	}
}

// A line is sent only once its newline is written; an over-long line is cut, counted and
// its bytes still counted in the offset; NUL bytes and invalid UTF-8 pass through for
// detect to count as unparsed.
func TestFollowerCompleteLinesLongLinesAndGarbage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	long := strings.Repeat("x", 3*maxLine)
	content := "short\n" + long + "\n" + "bin\x00ary \xff\n" + "partial"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	out := make(chan sourceLine, 10)
	c := &SourceCounters{}
	ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: c, out: out}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ff.run(ctx)

	if l := next(t, out); l.rec.Line != "short" || l.pos.Offset != 6 {
		t.Errorf("first line %q at %d", l.rec.Line, l.pos.Offset)
	}
	if l := next(t, out); len(l.rec.Line) != maxLine || l.pos.Offset != int64(6+len(long)+1) {
		t.Errorf("long line kept %d bytes, offset %d; want %d bytes, offset %d", len(l.rec.Line), l.pos.Offset, maxLine, 6+len(long)+1)
	}
	if l := next(t, out); l.rec.Line != "bin\x00ary \xff" {
		t.Errorf("garbage line %q", l.rec.Line)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" line\n")
	f.Close()
	if l := next(t, out); l.rec.Line != "partial line" || l.pos.Offset != int64(len(content)+6) {
		t.Errorf("completed line %q at %d", l.rec.Line, l.pos.Offset)
	}
	if c.Long.Load() != 1 || c.Lines.Load() != 4 {
		t.Errorf("counters: %d long, %d lines; want 1, 4", c.Long.Load(), c.Lines.Load())
	}
}

// The file a follower has just opened under the path may be rotated and compressed
// before it lists the rotated files (it lags; logrotate's compress runs at once): the
// compressed copy is a new inode, and reading it as well as the open file stored each
// of its lines twice. The listing leaves out the open file and its copies, not the
// files rotated before it.
func TestRotatedBesidesLeavesOutTheOpenFileAndItsCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	lines := func(name string, n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "Dec  6 10:16:%02d web1 sshd[%d]: Failed password for root from 198.51.100.7 port 22 ssh2 (%s)\n", i%60, 1000+i, name)
		}
		return b.String()
	}
	rotate := func(to string) {
		t.Helper()
		if err := os.Rename(path, to); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An older file, rotated and compressed; then the one the follower opens.
	write(path, lines("older", 50))
	rotate(path + ".2")
	gzipTo(t, path+".2")
	write(path, lines("opened", 50))
	ff := &fileFollower{path: path, log: slog.New(slog.DiscardHandler), store: noPositions{}, c: &SourceCounters{}}
	o := ff.open(context.Background(), path, 0)
	if o == nil {
		t.Fatal("cannot open the file")
	}
	defer o.close()
	names := func(files []heldFile) []string {
		defer closeHeld(files)
		var out []string
		for _, f := range files {
			out = append(out, filepath.Base(f.path))
		}
		return out
	}
	check := func(when string, want ...string) {
		t.Helper()
		if got := names(ff.rotatedBesides(o)); !slices.Equal(got, want) {
			t.Errorf("%s: rotated files besides the open one %q, want %q", when, got, want)
		}
	}
	check("nothing rotated since it was opened", "auth.log.2.gz")
	rotate(path + ".1") // the open file, under a rotated name: the same inode
	write(path, lines("next", 5))
	check("rotated", "auth.log.2.gz")
	gzipTo(t, path+".1") // a new inode with its bytes; its own name is gone
	check("rotated and compressed", "auth.log.2.gz")
	if got := names(ff.rotatedBesides(nil)); !slices.Equal(got, []string{"auth.log.2.gz", "auth.log.1.gz"}) {
		t.Errorf("rotated files %q, want both", got)
	}
}

// A file the service user may not read is an error that names the file and its group;
// the follower keeps trying instead of stopping.
func TestFollowerPermissionDeniedNamesTheGroup(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: every file is readable")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	if err := os.WriteFile(path, []byte("x\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	c := &SourceCounters{}
	ff := &fileFollower{path: path, log: slog.New(slog.NewTextHandler(&logged, nil)), store: noPositions{}, c: c, out: make(chan sourceLine, 10)}
	if ff.openLive(context.Background()) != nil {
		t.Fatal("opened an unreadable file")
	}
	if !strings.Contains(logged.String(), "permission denied") || !strings.Contains(logged.String(), "group=") || c.Errors.Load() != 1 {
		t.Errorf("log %q, errors %d", logged.String(), c.Errors.Load())
	}
}

func TestSourceConfigErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"[syslog]\nudp = [\"0.0.0.0:514\"]\n", "x.toml:2: syslog.allow: a syslog listener needs the networks allowed to send"},
		{"[syslog]\ntcp = [\"514\"]\nallow = [\"10.0.0.0/8\"]\n", "x.toml:2: syslog.tcp: \"514\" is not an address to listen on"},
		{"[syslog]\ntls = [\":6514\"]\nallow = [\"10.0.0.0/8\"]\n", "x.toml:2: syslog.tls: listening with TLS needs syslog.cert_file and syslog.key_file"},
		{"[syslog]\nudp = [\":514\"]\nallow = [\"10.0.0.0/33\"]\n", "x.toml:3: syslog.allow: \"10.0.0.0/33\" is not an address or a network"},
		{"[journal]\nunits = [\"ssh service\"]\n", "x.toml:2: journal.units: \"ssh service\" is not a unit or identifier name"},
		{"[journal]\ndirectory = \"/nonexistent\"\n", "x.toml:2: journal.directory: \"/nonexistent\" is not a directory"},
		{"[[source]]\nfiles = []\n", "x.toml:2: source[0].files: a [[source]] needs at least one file or glob"},
		{"[[source]]\nfiles = [\"/srv/fleet/mx2/mainlog\"]\nhost = \"mx 2\"\n", "x.toml:3: source[0].host: \"mx 2\" has a space in it: give the name the host has in its own logs"},
		{"[[source]]\nfiles = [\"/a\"]\n[[source]]\nfiles = [\"/b\"]\nhost = \"\"\n", "x.toml:5: source[1].host: \"\" is empty"},
		{"[[source]]\nfiles = [\"/a\"]\nhost = \"mx2\\u0007\"\n", "x.toml:3: source[0].host: \"mx2\\a\" has the control character U+0007 in it"},
		{"[syslog]\nmax_connections = 0\n", "x.toml:2: syslog.max_connections: must be at least 1, not 0"},
		{"[syslog]\nmax_connections = 16\nmax_connections_per_peer = 20\n", "x.toml:3: syslog.max_connections_per_peer: 20 is more than syslog.max_connections (16)"},
		{"[syslog]\nmax_connections_per_peer = 300\n", "x.toml:2: syslog.max_connections_per_peer: 300 is more than syslog.max_connections (256)"},
		{"[syslog]\nidle_timeout = \"10ms\"\n", "x.toml:2: syslog.idle_timeout: 10ms is too short"},
	} {
		_, err := ParseConfig("x.toml", []byte("[policy]\nmode = \"observe\"\n"+c.doc))
		if err == nil {
			t.Errorf("%q accepted", c.doc)
			continue
		}
		// The documents above start two lines down.
		got := strings.Replace(err.Error(), fmt.Sprintf("x.toml:%d", lineOf(err.Error())), fmt.Sprintf("x.toml:%d", lineOf(err.Error())-2), 1)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("error %q\nwant %q…", got, c.want)
		}
	}
}

func lineOf(s string) int {
	var n int
	fmt.Sscanf(s[strings.IndexByte(s, ':')+1:], "%d", &n)
	return n
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and a
// pool that trusts the certificate.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// Syslog over TLS (RFC 5425: octet-counted frames) from a Go client.
func TestSyslogOverTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	var logged strings.Builder
	cfg := &Config{Syslog: SyslogConfig{TLS: []string{"127.0.0.1:0"}, CertFile: certFile, KeyFile: keyFile, Allow: []string{"127.0.0.1"}},
		Detect: DetectConfig{Timezone: "UTC"}}
	d := &Daemon{cfg: cfg, log: slog.New(slog.NewTextHandler(&logged, nil))}
	out := make(chan sourceLine, 10)
	ready := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.listenSyslog(ctx, out, ready); close(done) }()
	defer func() { cancel(); <-done }()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	addr := strings.Fields(logged.String()[strings.Index(logged.String(), "addr=")+5:])[0]
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "<38>1 2026-11-22T09:59:58Z web7 sshd 42 - - Invalid user x from 3.3.3.3 port 5"
	fmt.Fprintf(conn, "%d %s", len(msg), msg)
	if l := next(t, out); l.rec.Line != "2026-11-22T09:59:58Z web7 sshd[42]: Invalid user x from 3.3.3.3 port 5" {
		t.Errorf("record %q", l.rec.Line)
	}
}

// A log written with CRLF line ends reads as the same lines without the carriage
// return, as `rules test` reads them; the position and its fingerprint still count the
// file's own bytes, so a follower started again resumes exactly after the last line.
func TestCRLFLinesReadWithoutTheCarriageReturn(t *testing.T) {
	lr := newLineReader(strings.NewReader("a\r\nb\n\r\nc\r"))
	var lines []string
	total := 0
	for {
		line, n, err := lr.next()
		total += n
		if n > 0 {
			lines = append(lines, line)
		}
		if err != nil {
			break
		}
	}
	if strings.Join(lines, "|") != "a|b||c" || total != 9 {
		t.Errorf("scan read %q in %d bytes; want a, b, an empty line and c in 9", lines, total)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "auth.log")
	crlf := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			b.WriteString(strings.TrimSuffix(lineNumbered("crlf", i), "\n") + "\r\n")
		}
		return b.String()
	}
	if err := os.WriteFile(path, []byte(crlf(0, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, nil))
	lines, last := followLines(t, &fileFollower{path: path, log: logger, store: noPositions{}, c: &SourceCounters{}}, 3)
	for i, l := range lines {
		if want := strings.TrimSuffix(lineNumbered("crlf", i), "\n"); l != want {
			t.Errorf("line %d: %q, want %q", i, l, want)
		}
	}
	// Started again on what was committed with the last line, after more lines came.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(crlf(3, 5))
	f.Close()
	saved := savedPositions{last.pos.Source: last.pos, last.fp.Source: last.fp}
	lines, _ = followLines(t, &fileFollower{path: path, log: logger, store: saved, c: &SourceCounters{}}, 2)
	if want := strings.TrimSuffix(lineNumbered("crlf", 3), "\n"); lines[0] != want || strings.Contains(logged.String(), "truncated") {
		t.Errorf("resumed with %q, want %q first and no truncation; log:\n%s", lines, want, logged.String())
	}
}

// A log the file's group may not read (RHEL's /var/log/secure, root:root 0600) is not
// fixed by joining its group: the advice names an ACL or the journal instead.
func TestPermissionAdviceFitsTheFileMode(t *testing.T) {
	dir := t.TempDir()
	me := userName(uint32(os.Geteuid())) // the daemon's user, named (it said abusewatch whoever it ran as)
	group := fileGroup(dir)
	for mode, want := range map[os.FileMode]string{0o640: "usermod -aG " + group + " " + me, 0o600: "setfacl -m u:" + me + ":r "} {
		path := filepath.Join(dir, fmt.Sprintf("secure-%o", mode))
		if err := os.WriteFile(path, nil, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // whatever the umask
			t.Fatal(err)
		}
		if got := permissionAdvice(path); !strings.Contains(got, want) {
			t.Errorf("mode %o: %q, want it to say %q", mode, got, want)
		}
	}
	// The file is tried again: an ACL takes without a restart (it said "and restart").
	if got := permissionAdvice(filepath.Join(dir, "secure-600")); !strings.Contains(got, "setfacl -m u:"+me+":r "+filepath.Join(dir, "secure-600")+
		"), and the same in logrotate's postrotate for that file so the next one keeps it; the daemon reads the file as soon as it may, without a restart") {
		t.Errorf("the ACL advice does not say the file is read without a restart: %q", got)
	}
}

// The syslog listener's limits: the defaults, and one address's cap never above the total.
func TestSyslogLimitsDefaults(t *testing.T) {
	for _, c := range []struct {
		doc            string
		total, perPeer int
		idle           time.Duration
	}{
		{"", defaultSyslogConns, defaultSyslogConnsPerPeer, defaultSyslogIdle},
		{"[syslog]\nmax_connections = 16\n", 16, 16, defaultSyslogIdle},
		{"[syslog]\nmax_connections = 1000\nmax_connections_per_peer = 4\nidle_timeout = \"1d\"\n", 1000, 4, 24 * time.Hour},
	} {
		cfg, err := ParseConfig("x.toml", []byte("[policy]\nmode = \"observe\"\n"+c.doc))
		if err != nil {
			t.Fatalf("%q: %v", c.doc, err)
		}
		if s := cfg.Syslog; s.MaxConnections != c.total || s.MaxConnectionsPerPeer != c.perPeer || s.IdleTimeout.Duration != c.idle {
			t.Errorf("%q: limits %d, %d, %v; want %d, %d, %v", c.doc, s.MaxConnections, s.MaxConnectionsPerPeer, s.IdleTimeout, c.total, c.perPeer, c.idle)
		}
	}
}
