package daemon

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/detect"
	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
	"golang.org/x/sys/unix"
)

// syslogSource is the name the listener's records and counters carry.
const syslogSource = "syslog"

// The syslog listener receives the auth logs of a fleet: RFC 5424 and RFC 3164 messages
// over UDP (one per datagram) and TCP or TLS (RFC 6587: octet-counted "LEN SP MSG" or
// newline-terminated, told apart per message by the first bytes). Messages are parsed
// by github.com/leodido/go-syslog and written as one canonical line whose host is the
// sender's own hostname, the host that was hit. Only configured networks may send. A
// network source cannot be replayed, so its records carry no position.
//
// Every peer is an allowed host, but a broken or hostile one must not take the daemon
// down with it: connections are capped in number and closed when idle, a frame is
// bounded before it is read, and every warning a peer can repeat at will is logged at
// most once a minute with a count, so it cannot flood the log or status's last warnings.

// The listener's default limits ([syslog] max_connections, max_connections_per_peer,
// idle_timeout). A sender keeps one connection open (rsyslog, syslog-ng), a relay or a
// NAT a few: the caps leave room for a fleet of a few hundred hosts, and stop one host
// that opens connections in a loop, or holds them open, from taking the daemon's file
// descriptors (which the store, the log files and the admin socket need too) and memory
// (a connection holds up to 128 KiB of buffers: 256 of them, 32 MiB). A quiet sender's
// connection is kept for an hour: rsyslog over plain TCP can lose the one message that
// meets a connection the listener closed, and a peer that is gone is found by TCP
// keep-alive (on for every accepted connection) long before.
const (
	defaultSyslogConns        = 256
	defaultSyslogConnsPerPeer = 32
	defaultSyslogIdle         = time.Hour
	syslogHandshakeTimeout    = 10 * time.Second // for a TLS client to finish its handshake
)

const (
	// maxFrame bounds an octet-counted frame: a larger count is no count (see
	// octetCounted). A frame up to it is read and cut to maxLine.
	maxFrame = 1 << 20
	// maxCountDigits is the longest octet count: maxFrame has 7 digits. Only so many
	// bytes are read before a count is refused.
	maxCountDigits = 7
	// maxQuoted bounds how much of a peer's bad input an error quotes.
	maxQuoted = 64
	// udpReadBuffer is the receive buffer asked for each UDP socket: a burst from a fleet
	// waits there while the daemon is busy. Without CAP_NET_ADMIN the kernel caps it at
	// net.core.rmem_max.
	udpReadBuffer = 4 << 20
	// Accept errors (out of file descriptors, most often) are retried after a pause
	// that doubles from acceptBackoffMin to acceptBackoffMax, as net/http's Server does.
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// quietInterval is how often one kind of warning is logged for one peer at most.
	quietInterval = time.Minute
)

// syslogListener holds what every connection of the listener shares.
type syslogListener struct {
	d     *Daemon
	allow []netip.Prefix
	c     *SourceCounters
	out   chan<- sourceLine
	loc   *time.Location

	// The limits: the config's (tests make them shorter).
	maxConns, maxPerPeer int
	idle, handshake      time.Duration
	readBuffer           int           // the receive buffer asked for each UDP socket
	dropsEvery           time.Duration // how often a UDP socket's drop count is read (watchDrops)

	mu    sync.Mutex
	conns int                // open connections
	peers map[netip.Addr]int // open connections by peer

	quiet logLimiter // warnings a peer can repeat at will
	names peerNames  // the hostname each peer gives

	clock  clockRule    // what a message's time is believed (clock.go), as the pipeline believes it
	clocks syslogClocks // the offsets of hosts ahead, and their messages held during a flush (syslog_ahead.go)

	// What SourceCounters has no field for; each is counted in c.Errors too, so that
	// status and metrics show it meanwhile.
	future atomic.Int64 // messages from a clock that is fast (clockAhead, clockFast), dated when they arrived
}

func newSyslogListener(d *Daemon, out chan<- sourceLine) *syslogListener {
	l := &syslogListener{d: d, c: d.sources.get(syslogSource), out: out, loc: Location(d.cfg.Detect.Timezone),
		// A config that was not read from a file (a test's) has no limits: the defaults.
		maxConns:   cmp.Or(d.cfg.Syslog.MaxConnections, defaultSyslogConns),
		maxPerPeer: cmp.Or(d.cfg.Syslog.MaxConnectionsPerPeer, defaultSyslogConnsPerPeer),
		idle:       cmp.Or(d.cfg.Syslog.IdleTimeout.Duration, defaultSyslogIdle),
		handshake:  syslogHandshakeTimeout,
		readBuffer: udpReadBuffer,
		dropsEvery: udpDropsEvery,
		peers:      map[netip.Addr]int{}, quiet: logLimiter{every: quietInterval}, clocks: syslogClocks{settle: syslogSettle},
		clock: clockRule{maxAge: d.cfg.Policy.MaxAge.Duration, zone: d.cfg.Detect.Timezone}}
	for _, n := range d.cfg.Syslog.Allow {
		p, _ := parseNetwork(n) // validated
		l.allow = append(l.allow, p)
	}
	return l
}

// listenSyslog listens on every configured address and serves until ctx ends. ready gets
// nil once all of them listen, or the first error (an address in use, a bad certificate).
// Once ctx ends it sends what it received and had not sent (handOver): out's reader
// takes lines until it returns.
func (d *Daemon) listenSyslog(ctx context.Context, out chan<- sourceLine, ready chan<- error) {
	newSyslogListener(d, out).listen(ctx, ready)
}

func (l *syslogListener) listen(ctx context.Context, ready chan<- error) {
	d, cfg := l.d, l.d.cfg.Syslog
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var closers []io.Closer
	var wg sync.WaitGroup
	fail := func(err error) {
		stop()
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
		ready <- err
	}
	var lc net.ListenConfig
	for _, addr := range cfg.UDP {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			fail(fmt.Errorf("syslog.udp: %w", err))
			return
		}
		closers = append(closers, pc)
		d.log.Info("syslog: listening", "proto", "udp", "addr", pc.LocalAddr().String())
		l.tuneUDP(pc)
		drops := &udpDrops{}
		wg.Go(func() { l.serveUDP(ctx, pc, drops) })
		if uc, ok := pc.(*net.UDPConn); ok {
			wg.Go(func() { l.watchDrops(ctx, uc, drops) })
		}
	}
	var tlsConfig *tls.Config
	if len(cfg.TLS) > 0 {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			fail(fmt.Errorf("syslog.cert_file, syslog.key_file: %w", err))
			return
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	for _, k := range []struct {
		proto string
		addrs []string
	}{{"tcp", cfg.TCP}, {"tls", cfg.TLS}} {
		for _, addr := range k.addrs {
			ln, err := lc.Listen(ctx, "tcp", addr)
			if err != nil {
				fail(fmt.Errorf("syslog.%s: %w", k.proto, err))
				return
			}
			if k.proto == "tls" {
				ln = tls.NewListener(ln, tlsConfig)
			}
			closers = append(closers, ln)
			d.log.Info("syslog: listening", "proto", k.proto, "addr", ln.Addr().String())
			wg.Go(func() { l.serveTCP(ctx, ln, k.proto, &wg) })
		}
	}
	wg.Go(func() { l.releaseHeld(ctx) })
	ready <- nil
	<-ctx.Done()
	for _, c := range closers {
		c.Close()
	}
	wg.Wait()
	l.handOver()
}

// peerAddr is the address of a peer, IPv4 as IPv4 even on an IPv6 socket.
func peerAddr(addr net.Addr) netip.Addr {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	default:
		ap, _ = netip.ParseAddrPort(addr.String())
	}
	return ap.Addr().Unmap()
}

// allowed says whether a peer may send.
func (l *syslogListener) allowed(peer netip.Addr) bool {
	for _, p := range l.allow {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}

// refuse counts a datagram or a connection from a network not in syslog.allow. Anyone
// can send them, as fast as they like, from forged addresses over UDP: they are logged
// once a minute per peer.
func (l *syslogListener) refuse(peer netip.Addr, proto string) {
	l.c.Refused.Add(1)
	l.c.fail(1, "refused "+proto+" from "+peer.String()+", not in syslog.allow")
	l.logQuietly(slog.LevelWarn, "refused "+peer.String(), "syslog: refused a message from a network not in syslog.allow",
		"peer", peer, "proto", proto, "refused", l.c.Refused.Load())
}

// logQuietly logs a warning a peer can repeat at will at most once per quietInterval for
// key, with the number left out since the last one logged.
func (l *syslogListener) logQuietly(level slog.Level, key, msg string, args ...any) {
	ok, held := l.quiet.allow(key, time.Now())
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "not_logged_since", held)
	}
	l.d.log.Log(context.Background(), level, msg, args...)
}

// logLimiter lets a recurring log line through at most once per interval per key, and
// says how many it held back since. It remembers maxQuietKeys keys at most: when they
// are all taken (a flood of forged UDP sources), it forgets those whose interval is spent,
// once an interval, and new keys meanwhile share one.
type logLimiter struct {
	every  time.Duration
	mu     sync.Mutex
	keys   map[string]*limitedKey
	pruned time.Time // when the keys were last pruned
}

type limitedKey struct {
	last time.Time // when it was last let through
	held int64     // how many were held back since
}

const maxQuietKeys = 4096

func (r *logLimiter) allow(key string, now time.Time) (bool, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]*limitedKey{}
	}
	k := r.keys[key]
	if k == nil && len(r.keys) >= maxQuietKeys {
		if now.Sub(r.pruned) >= r.every {
			r.pruned = now
			for name, k := range r.keys {
				if now.Sub(k.last) >= r.every {
					delete(r.keys, name)
				}
			}
		}
		if len(r.keys) >= maxQuietKeys {
			key = "(too many to tell apart)"
			k = r.keys[key]
		}
	}
	if k == nil {
		r.keys[key] = &limitedKey{last: now}
		return true, 0
	}
	if now.Sub(k.last) < r.every {
		k.held++
		return false, 0
	}
	held := k.held
	k.last, k.held = now, 0
	return true, held
}

// hasPRI says whether a message starts with a syslog <PRI> (RFC 5424 and RFC 3164: 0 to
// 191 in 1 to 3 digits).
func hasPRI(raw []byte) bool {
	end := bytes.IndexByte(raw, '>')
	if len(raw) < 3 || raw[0] != '<' || end < 2 || end > 4 {
		return false
	}
	for _, c := range raw[1:end] {
		if c < '0' || c > '9' {
			return false
		}
	}
	n, _ := strconv.Atoi(string(raw[1:end]))
	return n <= 191
}

// quoteInput quotes the start of a peer's bad input for an error: at most maxQuoted bytes.
func quoteInput(b []byte) string {
	if len(b) > maxQuoted {
		return strconv.Quote(string(b[:maxQuoted])) + fmt.Sprintf("… (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

// tuneUDP asks the kernel for a larger receive buffer and for the count of datagrams it
// dropped with every datagram read (SO_RXQ_OVFL; watchDrops reads it meanwhile): a
// datagram the daemon is too slow for is lost either way, but counted, and the log says
// how to make room for more.
func (l *syslogListener) tuneUDP(pc net.PacketConn) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return
	}
	var size int
	var ovflErr error
	rc.Control(func(fd uintptr) {
		// SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN; without it, SO_RCVBUF gets
		// what rmem_max allows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, l.readBuffer) != nil {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, l.readBuffer)
		}
		size, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		ovflErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	})
	// Linux reports twice the size asked for: the other half is its bookkeeping.
	attrs := []any{"addr", pc.LocalAddr().String(), "bytes", size / 2}
	if size/2 < l.readBuffer {
		attrs = append(attrs, "hint", fmt.Sprintf("sysctl net.core.rmem_max=%d makes room for a larger burst", l.readBuffer))
	}
	l.d.log.Info("syslog: UDP receive buffer", attrs...)
	if ovflErr != nil {
		l.d.log.Warn("syslog: the kernel will not count the datagrams it drops (SO_RXQ_OVFL)", "addr", pc.LocalAddr().String(), "err", ovflErr)
	}
}

// kernelDrops is the socket's count of dropped datagrams from the control message that
// SO_RXQ_OVFL adds to a datagram once the socket has dropped one.
func kernelDrops(oob []byte) (uint32, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_RXQ_OVFL && len(m.Data) >= 4 {
			return binary.NativeEndian.Uint32(m.Data), true
		}
	}
	return 0, false
}

// serveUDP reads the datagrams of one socket, and counts the drops their SO_RXQ_OVFL
// brings in drops. It reads a datagram once the sources' queue took the last one's
// record: meanwhile a burst waits in the receive buffer. It has no queue of its own: one
// that blocks is a larger receive buffer, and one that drops when full spends a core,
// under a flood, reading datagrams to drop them, which the pipeline that is behind needs.
func (l *syslogListener) serveUDP(ctx context.Context, pc net.PacketConn, drops *udpDrops) {
	parser := l.parser()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	uc, _ := pc.(*net.UDPConn)
	addr := pc.LocalAddr().String()
	pause := backoff{next: acceptBackoffMin, max: acceptBackoffMax}
	for {
		var n, oobn int
		var peer netip.Addr
		var err error
		if uc != nil {
			var from netip.AddrPort
			n, oobn, _, from, err = uc.ReadMsgUDPAddrPort(buf, oob)
			peer = from.Addr().Unmap()
		} else {
			var from net.Addr
			if n, from, err = pc.ReadFrom(buf); err == nil {
				peer = peerAddr(from)
			}
		}
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.c.fail(1, "reading a datagram: "+err.Error())
			l.logQuietly(slog.LevelError, "read "+addr, "syslog: reading a datagram", "addr", addr, "err", err)
			if pause.wait(ctx) != nil {
				return
			}
			continue
		}
		pause.next = acceptBackoffMin
		if total, ok := kernelDrops(oob[:oobn]); ok {
			l.countDrops(addr, drops, total)
		}
		if !l.allowed(peer) {
			l.refuse(peer, "udp")
			continue
		}
		if l.message(ctx, parser, buf[:n], peer) != nil {
			return
		}
	}
}

func (l *syslogListener) serveTCP(ctx context.Context, ln net.Listener, proto string, wg *sync.WaitGroup) {
	var conns sync.Map
	defer conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	addr := ln.Addr().String()
	// Out of file descriptors, Accept fails at once for as long as a connection waits
	// in the backlog: without a pause the loop would take a core and fill the disk
	// with errors.
	pause := backoff{next: acceptBackoffMin, max: acceptBackoffMax}
	failures := 0
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			failures++
			l.c.fail(1, "accepting a connection: "+err.Error())
			l.logQuietly(slog.LevelError, "accept "+addr, "syslog: accepting a connection, retried with back-off",
				"proto", proto, "addr", addr, "err", err, "failures", failures)
			if pause.wait(ctx) != nil {
				return
			}
			continue
		}
		if failures > 0 {
			l.d.log.Info("syslog: accepting connections again", "proto", proto, "addr", addr, "failures", failures)
			failures = 0
		}
		pause.next = acceptBackoffMin
		peer := peerAddr(conn.RemoteAddr())
		if !l.allowed(peer) {
			l.refuse(peer, proto)
			conn.Close()
			continue
		}
		if limit := l.admit(peer); limit != "" {
			l.c.OverLimit.Add(1)
			l.c.fail(1, "closed a connection from "+peer.String()+" over the limit: "+limit)
			l.logQuietly(slog.LevelWarn, "limit "+peer.String(), "syslog: closed a connection over the limit",
				"peer", peer, "proto", proto, "limit", limit, "closed", l.c.OverLimit.Load())
			conn.Close()
			continue
		}
		conns.Store(conn, true)
		wg.Go(func() {
			defer l.release(peer)
			defer conns.Delete(conn)
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			if err := l.serveConn(ctx, conn, peer); err != nil && ctx.Err() == nil {
				l.c.fail(1, "connection from "+peer.String()+" ended: "+err.Error())
				l.logQuietly(slog.LevelWarn, "ended "+peer.String(), "syslog: connection ended", "peer", peer, "proto", proto, "err", err,
					"messages_cut", l.c.Cut.Load())
			}
		})
	}
}

// admit takes a place for a connection from peer, or says which limit it is over.
func (l *syslogListener) admit(peer netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.conns >= l.maxConns:
		return fmt.Sprintf("%d connections at once", l.maxConns)
	case l.peers[peer] >= l.maxPerPeer:
		return fmt.Sprintf("%d connections from one address", l.maxPerPeer)
	}
	l.conns++
	l.peers[peer]++
	return ""
}

// release gives back the place admit took.
func (l *syslogListener) release(peer netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns--
	if l.peers[peer]--; l.peers[peer] <= 0 {
		delete(l.peers, peer)
	}
}

// idleReader ends a read that waits longer than idle for its first byte, so a peer that
// holds a connection open without sending loses it.
type idleReader struct {
	conn net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if err := r.conn.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}

// serveConn reads framed messages from one stream until it ends. A stream that ends, or
// goes quiet, between two messages ends cleanly; one that ends inside a message returns
// an error, and the message is dropped.
func (l *syslogListener) serveConn(ctx context.Context, conn net.Conn, peer netip.Addr) error {
	if tc, ok := conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, l.handshake)
		err := tc.HandshakeContext(hctx)
		timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err != nil && timedOut:
			return fmt.Errorf("no TLS handshake within %s", l.handshake)
		case err != nil:
			return fmt.Errorf("TLS handshake: %w", err)
		}
	}
	parser := l.parser()
	fr := frameReader{br: bufio.NewReaderSize(idleReader{conn, l.idle}, 64<<10)}
	for {
		msg, err := fr.next()
		switch {
		case errors.Is(err, errCutFrame):
			l.c.Cut.Add(1)
			return err
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			l.d.log.Debug("syslog: closed an idle connection", "peer", peer, "idle", l.idle)
			return nil
		case err != nil:
			return err
		}
		if err := l.message(ctx, parser, msg, peer); err != nil {
			return nil
		}
	}
}

// errCutFrame marks a message that its stream ended, or went quiet, in the middle of. Its
// end is missing, so its text may be wrong (an address cut from 24.0.0.45 to 24.0.0.4)
// and it is dropped.
var errCutFrame = errors.New("message cut off and dropped")

// cutFrame is the error for a frame whose reading failed with err after it began.
func cutFrame(err error, format string, args ...any) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w (%s): %w", errCutFrame, fmt.Sprintf(format, args...), err)
}

// frameReader reads the RFC 6587 frames of one stream: "LEN SP MSG" when the message
// starts with a plausible count followed by a space, else a message ending at a newline.
type frameReader struct {
	br      *bufio.Reader
	framing byte // 'o' once the stream sent an octet-counted frame, 'n' a newline-framed one
}

// next reads one frame. It returns the reader's error as it is (io.EOF, a deadline)
// when the stream ends between frames, and an errCutFrame when it ends inside one.
func (f *frameReader) next() ([]byte, error) {
	first, err := f.br.Peek(1)
	if err != nil {
		return nil, err
	}
	if first[0] >= '0' && first[0] <= '9' {
		msg, ok, err := f.octetCounted()
		if ok || err != nil {
			return msg, err
		}
	}
	f.framing = 'n'
	return f.line()
}

// octetCounted reads an octet-counted frame; ok is false, and nothing is read, when the
// digits at the start of the message are not a count. It reads at most
// maxCountDigits+1 bytes before it knows.
func (f *frameReader) octetCounted() (msg []byte, ok bool, err error) {
	for i := 1; ; i++ {
		head, err := f.br.Peek(i)
		if err != nil {
			return nil, false, cutFrame(err, "after %s", quoteInput(head))
		}
		c := head[i-1]
		if c >= '0' && c <= '9' {
			if i <= maxCountDigits {
				continue
			}
			if f.framing == 'n' {
				return nil, false, nil // a newline-framed message that starts with a number
			}
			return nil, false, fmt.Errorf("octet count %s longer than %d digits: the sender's framing is not RFC 6587", quoteInput(head), maxCountDigits)
		}
		n, _ := strconv.Atoi(string(head[:i-1]))
		if c != ' ' || n < 1 || n > maxFrame {
			if f.framing == 'o' {
				// Octet-counted streams have no other delimiter: the sender lost count.
				return nil, false, fmt.Errorf("bad octet count %s: the sender's framing is not RFC 6587", quoteInput(head))
			}
			return nil, false, nil // e.g. "2026-12-06T22:23:15Z host …\n"
		}
		f.br.Discard(i)
		f.framing = 'o'
		msg = make([]byte, min(n, maxLine))
		if _, err := io.ReadFull(f.br, msg); err != nil {
			return nil, true, cutFrame(err, "an octet-counted frame of %d bytes", n)
		}
		if n > len(msg) {
			if _, err := f.br.Discard(n - len(msg)); err != nil {
				return nil, true, cutFrame(err, "an octet-counted frame of %d bytes", n)
			}
		}
		return msg, true, nil
	}
}

// line reads a message up to its newline, kept up to maxLine bytes. A stream that ends
// before the newline cuts the message.
func (f *frameReader) line() ([]byte, error) {
	var msg []byte
	read := 0
	for {
		part, err := f.br.ReadSlice('\n')
		read += len(part)
		if len(msg) < maxLine {
			msg = append(msg, part[:min(len(part), maxLine-len(msg))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, cutFrame(err, "%d bytes without their newline", read)
		}
		return msg, nil
	}
}

// parser returns a parser for one connection (the parsers keep state).
func (l *syslogListener) parser() syslog.Machine {
	return auto.NewMachine(
		// Year 0 marks a time without a year: syslogRecord gives it the year a file would
		// (year 0 is a leap year: Feb 29 stays Feb 29). Like a file's, it is read in
		// detect.timezone (go-syslog's WithTimezone only converts a time read as UTC).
		auto.WithRFC3164Options(rfc3164.WithYear(rfc3164.Year{YYYY: 0}), rfc3164.WithLocaleTimezone(l.loc), rfc3164.WithRFC3339(), rfc3164.WithSecondFractions()),
		auto.WithRFC5424Options(rfc5424.WithBestEffort()),
	)
}

// message parses one message and sends it as a record. An empty message (a newline
// after an octet-counted frame, which some senders add) is no record.
func (l *syslogListener) message(ctx context.Context, parser syslog.Machine, raw []byte, peer netip.Addr) error {
	l.c.Bytes.Add(int64(len(raw)))
	if len(bytes.TrimRight(raw, "\r\n\x00")) == 0 {
		return nil
	}
	l.c.Lines.Add(1)
	if len(raw) >= maxLine {
		l.c.Long.Add(1)
	}
	rec, ok, sent := syslogRecord(parser, raw, peer, time.Now(), l.loc, &l.names)
	if !ok {
		l.logQuietly(slog.LevelWarn, "unparsed "+peer.String(), "syslog: a message without a <PRI> is counted as unparsed: its header cannot be believed",
			"peer", peer, "start", quoteInput(raw))
	}
	// The pipeline dates the message by the same rule and warns of the host it names;
	// the sender's address, which a hostname does not prove, is known here.
	if j := l.clock.judge(rec, sent); !sent.IsZero() && (j.verdict == clockAhead || j.verdict == clockFast) {
		l.future.Add(1)
		l.c.fail(1, "a message from "+peer.String()+" dated more than 5 minutes after it arrived (the sender's clock is fast, or it writes local time in another zone)")
		l.logQuietly(slog.LevelWarn, "future "+peer.String(), "syslog: a message dated more than 5 minutes after it arrived is dated by its host's offset (as far ahead as its freshest message), "+
			"never after it arrived: the sender's clock is fast, or it writes its local time without an offset from another zone than detect.timezone",
			"peer", peer, "sent", rec.Read.Add(j.offset).UTC().Format(time.RFC3339), "arrived", rec.Read.UTC().Format(time.RFC3339),
			"ahead", offsetText(j.offset), "redated", l.future.Load())
	}
	lines := []sourceLine{{rec: rec}}
	if !sent.IsZero() {
		if excess := sent.Sub(rec.Read); excess > maxSkew || l.clocks.known() {
			if h, err := detect.ParseLiveHeader(rec.Line, rec.Read, l.loc); err == nil {
				lines = l.clocks.date(peer, h.Host, excess, lines[0])
			}
		}
	}
	return l.send(ctx, lines)
}

// unparsedMark starts the line of a message without a <PRI>. detect refuses every line
// with a control character, whatever follows it, so the record is counted as unparsed.
const unparsedMark = "\x00"

// syslogRecord writes a received message as a line with an rsyslog-style header: the
// sender's timestamp as it wrote it, its hostname (or, when it gives none, the one names
// knows for peer: see peerNames), its program and PID, then the message. A message the
// library cannot parse is kept as it came for detect, which reads more header formats
// (nanoseconds in an RFC 5424 timestamp, as Go's time.RFC3339Nano writes them) and
// counts the rest as unparsed; but only a message that starts with a <PRI>: without
// one, nothing says the text is a syslog header at all, and its hostname (the host that
// was hit), program and addresses must not be believed ("Dec  6 22:23:15 spoofhost2
// sshd[300]: …" read as an attack on spoofhost2). Such a message is marked so that
// detect counts it as unparsed, and ok is false.
//
// The line is the evidence a report quotes: the admin looks for it in the host's own
// log, so its time is the text the host wrote ("Dec  7 13:03:12", "2099-01-01T00:00:00Z"),
// not the time the daemon believes. detect reads the time again from that text, the
// record being Live (a year-less time up to a month ahead is this year's, as withYear
// gives it), and the pipeline dates the event by the rule of clock.go. Only a time the
// host did not write (RFC 5424's "-": the time it arrived) or wrote in a form detect
// does not read (RFC 3164 with fractions of a second) is written as rsyslog writes the
// time, from the one the library read. sent is the time detect will read in the line
// (zero when none: the record is unparsed).
func syslogRecord(parser syslog.Machine, raw []byte, peer netip.Addr, read time.Time, loc *time.Location, names *peerNames) (rec abusewatch.Record, ok bool, sent time.Time) {
	raw = bytes.TrimRight(raw, "\r\n\x00")
	rec = abusewatch.Record{Source: syslogSource, Line: string(raw), Read: read, Live: true}
	// line writes the record's line from its header's parts: the time as stamp, the
	// host's text, when detect reads it there as t.
	line := func(stamp string, t time.Time, host, tag, msg string) (abusewatch.Record, bool, time.Time) {
		rest := " " + host + " " + tag + detect.TagSeparator(msg) + msg
		if stamp != "" {
			rec.Line = stamp + rest
			if h, err := detect.ParseLiveHeader(rec.Line, read, loc); err == nil && h.Time.Equal(t) {
				return rec, true, t
			}
		}
		rec.Line = t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + rest
		return rec, true, t
	}
	asItCame := func() (abusewatch.Record, bool, time.Time) {
		if !hasPRI(raw) {
			rec.Line = unparsedMark + rec.Line
			return rec, false, time.Time{}
		}
		// Read as detect will read it, for the time the listener holds to clock.go.
		if h, err := detect.ParseLiveHeader(rec.Line, read, loc); err == nil {
			return rec, true, h.Time
		}
		return rec, true, time.Time{}
	}
	m, err := parser.Parse(raw)
	if err != nil && m == nil {
		return asItCame()
	}
	var b *syslog.Base
	is5424 := false
	switch msg := m.(type) {
	case *rfc5424.SyslogMessage:
		b, is5424 = &msg.Base, true
	case *rfc3164.SyslogMessage:
		if msg.Hostname == nil {
			if h, ok := ipv6Header(raw, read, loc); ok {
				return line(sentStamp(raw, false), h.Time, names.host(peer, headerWord(h.Host, "")), headerTag(h.Program, h.PID), h.Message)
			}
		}
		b = &msg.Base
	default:
		return asItCame()
	}
	if b.Message == nil {
		return asItCame()
	}
	// In autumn's repeated hour the time by the host's order (localTime) may not be the
	// one detect reads from the host's text: line then writes the time as rsyslog does.
	t, stamp, local := read, "", false
	if b.Timestamp != nil && !b.Timestamp.IsZero() {
		t, stamp = *b.Timestamp, sentStamp(raw, is5424)
		if !is5424 && t.In(loc).Year() == 0 {
			t, local = withYear(t, read, loc), true // a year-less RFC 3164 time (see parser)
		}
	}
	given := ""
	if b.Hostname != nil && *b.Hostname != "-" {
		given = headerWord(*b.Hostname, "")
	}
	host := names.host(peer, given)
	if local {
		t = names.localTime(host, t, read) // autumn's repeated hour: by the host's order
		if repeatedHour(t, loc) {
			// The host's text names two instants: the line says which, as rsyslog
			// writes the time (the pipeline reads the listener's messages of all hosts
			// as one source, whose order is not each host's).
			stamp = ""
		}
	}
	tag := "-"
	if b.Appname != nil {
		tag = headerWord(*b.Appname, "-")
	}
	if b.ProcID != nil {
		if pid, err := strconv.Atoi(*b.ProcID); err == nil {
			tag += "[" + strconv.Itoa(pid) + "]"
		}
	}
	// rsyslog's msg keeps the space that followed the tag: its RFC 5424 forwarding
	// template (RSYSLOG_SyslogProtocol23Format) writes "SD %msg%", and a relay of what
	// it writes to its files sends "sshd[1]:  Failed …" in RFC 3164. One leading space
	// is the sender's, as detect drops a second space after the tag in a file.
	msg := detect.DropSenderSpace(strings.TrimLeft(*b.Message, "\ufeff"))
	return line(stamp, t, host, tag, msg)
}

// repeatedHour says whether t's wall clock in loc names another instant too: an autumn
// clock change repeats it (an hour, or Lord Howe's half hour).
func repeatedHour(t time.Time, loc *time.Location) bool {
	const wall = "2006-01-02 15:04:05"
	w := t.In(loc).Format(wall)
	for _, d := range []time.Duration{30 * time.Minute, time.Hour} {
		if t.Add(d).In(loc).Format(wall) == w || t.Add(-d).In(loc).Format(wall) == w {
			return true
		}
	}
	return false
}

// sentStamp is the text of the timestamp of raw, a message with a <PRI> the library
// parsed: after RFC 5424's version, the first word; in RFC 3164, "Mmm dd hh:mm:ss" (the
// day padded with a space or a zero) or an RFC 3339 time. "" for RFC 5424's "-". The
// caller checks that detect reads it as the library did.
func sentStamp(raw []byte, is5424 bool) string {
	_, s, _ := strings.Cut(string(raw), ">")
	if is5424 {
		_, s, _ = strings.Cut(s, " ") // the version
	}
	if !is5424 && len(s) > 7 && s[3] == ' ' && s[6] == ' ' {
		if end := strings.IndexByte(s[7:], ' '); end > 0 {
			return s[:7+end]
		}
		return ""
	}
	stamp, _, _ := strings.Cut(s, " ")
	if stamp == "-" {
		return ""
	}
	return stamp
}

// withYear dates a year-less RFC 3164 time (detect.WithYear): up to a month after read
// is a live sender whose clock is fast, whom the pipeline dates when it arrived and both
// warn of (clock.go; as for a followed file's line read as it was written; a file's backlog, which may
// hold lines of eleven months ago, allows a day).
func withYear(t, read time.Time, loc *time.Location) time.Time {
	if d, ok := detect.WithYear(t, read, detect.FastClock, loc); ok {
		return d
	}
	t = t.In(loc)
	return time.Date(read.In(loc).Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
}

// headerTag is "program[pid]", "program" without a PID, "-" without a program.
func headerTag(program string, pid int) string {
	tag := headerWord(program, "-")
	if pid != 0 {
		tag += "[" + strconv.Itoa(pid) + "]"
	}
	return tag
}

// ipv6Header reads the header of an RFC 3164 message whose HOSTNAME is an IPv6 literal
// ("Dec  7 02:17:05 2001:db8:1::11 sshd[123]: …", from a host without a name or a relay
// that names it by its address). go-syslog allows no colon in a hostname and takes
// "2001" for the tag; detect's header parser reads the line as it reads it in a file.
func ipv6Header(raw []byte, read time.Time, loc *time.Location) (detect.Header, bool) {
	h, err := detect.ParseLiveHeader(string(raw), read, loc)
	if err != nil {
		return h, false
	}
	a, err := netip.ParseAddr(h.Host)
	return h, err == nil && a.Is6()
}

// maxNamedPeers bounds how many senders' names the listener remembers: a fleet of a few
// hundred hosts, with room to spare. A sender beyond it is not remembered.
const maxNamedPeers = 4096

// peerNames remembers the hostname each sender gives, for its messages that give none
// (RFC 5424's NIL "-", an RFC 3164 message without a HOSTNAME): they are the same host's.
// A sender that named several hosts (a relay) or none yet is written as its address in
// brackets, "[192.0.2.10]": a name for the admin, that the mail can tell from a host's
// name and leave out (the sender's address is no host the abuse desk should hear of).
// The names are those of the listener's lifetime; a nil peerNames knows none.
type peerNames struct {
	mu    sync.Mutex
	names map[netip.Addr]string // "" once the sender named two hosts
	times senderTimes           // each host's last local time (syslog_times.go)
}

// host is the host a message from peer is from: given, when it is not "".
func (n *peerNames) host(peer netip.Addr, given string) string {
	unnamed := "[" + peer.String() + "]"
	if n == nil {
		return cmp.Or(given, unnamed)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	known, seen := n.names[peer]
	switch {
	case given == "":
		if known == "" {
			return unnamed
		}
		return known
	case !seen && len(n.names) < maxNamedPeers:
		if n.names == nil {
			n.names = map[netip.Addr]string{}
		}
		n.names[peer] = given
	case seen && known != "" && !sameHost(known, given):
		n.names[peer] = "" // a relay: its unnamed messages may be any host's
	}
	return given
}

// sameHost says whether two names a sender gives are one host's: equal but for case, or
// for the domain after the first label ("web1", "WEB1", "web1.example.org").
func sameHost(a, b string) bool {
	_, errA := netip.ParseAddr(a)
	_, errB := netip.ParseAddr(b)
	if errA == nil || errB == nil { // an address has no labels
		return strings.EqualFold(a, b)
	}
	first := func(s string) string { label, _, _ := strings.Cut(s, "."); return label }
	return strings.EqualFold(first(a), first(b))
}
