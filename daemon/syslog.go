package daemon

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch"
	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"
)

// syslogSource is the name the listener's records and counters carry.
const syslogSource = "syslog"

// The syslog listener receives the auth logs of a fleet: RFC 5424 and RFC 3164 messages
// over UDP (one per datagram) and TCP or TLS (RFC 6587: octet-counted "LEN SP MSG" or
// newline-terminated, told apart per message by the first byte). Messages are parsed
// by github.com/leodido/go-syslog and written as one canonical line whose host is the
// sender's own hostname, the host that was hit. Only configured networks may send. A
// network source cannot be replayed, so its records carry no position.

// syslogListener holds what every connection of the listener shares.
type syslogListener struct {
	d     *Daemon
	allow []netip.Prefix
	c     *SourceCounters
	out   chan<- sourceLine
	loc   *time.Location
}

// listenSyslog listens on every configured address and serves until ctx ends. ready gets
// nil once all of them listen, or the first error (an address in use, a bad certificate).
func (d *Daemon) listenSyslog(ctx context.Context, out chan<- sourceLine, ready chan<- error) {
	cfg := d.cfg.Syslog
	l := &syslogListener{d: d, c: d.sources.get(syslogSource), out: out, loc: Location(d.cfg.Detect.Timezone)}
	for _, n := range cfg.Allow {
		p, _ := parseNetwork(n) // validated
		l.allow = append(l.allow, p)
	}
	var closers []io.Closer
	var wg sync.WaitGroup
	fail := func(err error) {
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
		wg.Go(func() { l.serveUDP(ctx, pc) })
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
			wg.Go(func() { l.serveTCP(ctx, ln, &wg) })
		}
	}
	ready <- nil
	<-ctx.Done()
	for _, c := range closers {
		c.Close()
	}
	wg.Wait()
}

// allowed says whether a peer may send.
func (l *syslogListener) allowed(addr net.Addr) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}, false
	}
	a := ap.Addr().Unmap()
	for _, p := range l.allow {
		if p.Contains(a) {
			return a, true
		}
	}
	return a, false
}

func (l *syslogListener) refuse(peer netip.Addr, proto string) {
	l.c.Errors.Add(1)
	l.d.log.Warn("syslog: refused a message from a network not in syslog.allow", "peer", peer, "proto", proto,
		"errors", l.c.Errors.Load())
}

func (l *syslogListener) serveUDP(ctx context.Context, pc net.PacketConn) {
	parser := l.parser()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				l.c.Errors.Add(1)
				l.d.log.Error("syslog: reading a datagram", "err", err)
				continue
			}
			return
		}
		peer, ok := l.allowed(from)
		if !ok {
			l.refuse(peer, "udp")
			continue
		}
		if l.message(ctx, parser, buf[:n], peer) != nil {
			return
		}
	}
}

func (l *syslogListener) serveTCP(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) {
	var conns sync.Map
	defer conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.c.Errors.Add(1)
			l.d.log.Error("syslog: accepting a connection", "err", err)
			continue
		}
		peer, ok := l.allowed(conn.RemoteAddr())
		if !ok {
			l.refuse(peer, "tcp")
			conn.Close()
			continue
		}
		conns.Store(conn, true)
		wg.Go(func() {
			defer conns.Delete(conn)
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			if err := l.serveConn(ctx, conn, peer); err != nil && ctx.Err() == nil {
				l.c.Errors.Add(1)
				l.d.log.Warn("syslog: connection ended", "peer", peer, "err", err)
			}
		})
	}
}

// serveConn reads framed messages from one stream until it ends.
func (l *syslogListener) serveConn(ctx context.Context, conn net.Conn, peer netip.Addr) error {
	parser := l.parser()
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		msg, err := readFrame(br)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := l.message(ctx, parser, msg, peer); err != nil {
			return nil
		}
	}
}

// maxFrame bounds an octet-counted frame; a longer one is read and cut to maxLine.
const maxFrame = 1 << 20

// readFrame reads one RFC 6587 frame: "LEN SP MSG" when the stream starts with a digit,
// else a message ending at a newline. Lines are cut at maxLine.
func readFrame(br *bufio.Reader) ([]byte, error) {
	first, err := br.Peek(1)
	if err != nil {
		return nil, err
	}
	if first[0] >= '0' && first[0] <= '9' {
		head, err := br.ReadString(' ')
		if err != nil {
			return nil, fmt.Errorf("octet-counted frame without its length: %w", err)
		}
		n, err := strconv.Atoi(strings.TrimSuffix(head, " "))
		if err != nil || n < 1 || n > maxFrame {
			return nil, fmt.Errorf("bad octet count %q: the sender's framing is not RFC 6587", head)
		}
		msg := make([]byte, min(n, maxLine))
		if _, err := io.ReadFull(br, msg); err != nil {
			return nil, err
		}
		if n > len(msg) {
			if _, err := io.CopyN(io.Discard, br, int64(n-len(msg))); err != nil {
				return nil, err
			}
		}
		return msg, nil
	}
	var msg []byte
	for {
		part, err := br.ReadSlice('\n')
		if len(msg) < maxLine {
			msg = append(msg, part[:min(len(part), maxLine-len(msg))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil && len(msg) == 0 {
			return nil, err
		}
		return msg, nil
	}
}

// parser returns a parser for one connection (the parsers keep state).
func (l *syslogListener) parser() syslog.Machine {
	return auto.NewMachine(
		auto.WithRFC3164Options(rfc3164.WithYear(rfc3164.CurrentYear{}), rfc3164.WithTimezone(l.loc), rfc3164.WithRFC3339(), rfc3164.WithSecondFractions()),
		auto.WithRFC5424Options(rfc5424.WithBestEffort()),
	)
}

// message parses one message and sends it as a record.
func (l *syslogListener) message(ctx context.Context, parser syslog.Machine, raw []byte, peer netip.Addr) error {
	l.c.Bytes.Add(int64(len(raw)))
	l.c.Lines.Add(1)
	if len(raw) >= maxLine {
		l.c.Long.Add(1)
	}
	rec := syslogRecord(parser, raw, peer, time.Now())
	select {
	case l.out <- sourceLine{rec: rec}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// syslogRecord writes a received message as a line with an rsyslog-style header: the
// sender's timestamp (or the time it arrived), its hostname (or its address), its
// program and PID, then the message. A message the library cannot parse is kept as it
// came, for detect to count as unparsed.
func syslogRecord(parser syslog.Machine, raw []byte, peer netip.Addr, read time.Time) abusewatch.Record {
	raw = []byte(strings.TrimRight(string(raw), "\r\n\x00"))
	rec := abusewatch.Record{Source: syslogSource, Line: string(raw), Read: read}
	m, err := parser.Parse(raw)
	if err != nil && m == nil {
		return rec
	}
	var b *syslog.Base
	switch msg := m.(type) {
	case *rfc5424.SyslogMessage:
		b = &msg.Base
	case *rfc3164.SyslogMessage:
		b = &msg.Base
	default:
		return rec
	}
	if b.Message == nil {
		return rec
	}
	t := read
	if b.Timestamp != nil && !b.Timestamp.IsZero() {
		t = *b.Timestamp
	}
	host := peer.String()
	if b.Hostname != nil && *b.Hostname != "-" {
		host = headerWord(*b.Hostname, host)
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
	msg := strings.TrimLeft(*b.Message, "\ufeff")
	rec.Line = t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") + " " + host + " " + tag + ": " + msg
	return rec
}
