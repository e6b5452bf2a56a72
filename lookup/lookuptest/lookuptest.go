// Package lookuptest runs the peers the lookup stage talks to, for real, on loopback: a
// DNS server (miekg/dns's server side) answering from a zone in master-file format, an
// RDAP server answering ip queries per network (real registry answers or minimal ones it
// writes), with a request counter and a 429 storm, and an IANA bootstrap file that sends
// RDAP queries to a test HTTP server. Tests of any
// package use it, so none of them has to import miekg/dns itself.
package lookuptest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Zone answers queries from its records. Names in TruncateUDP get an empty, truncated
// answer over UDP, as a real server sends when the answer does not fit, so a client
// must retry over TCP. Names in ServFail get SERVFAIL (a broken upstream), names in
// Silent no answer at all (a timeout). Names are absolute and lower case: "a.example.".
// Set the maps before the first query.
type Zone struct {
	t           testing.TB
	records     []dns.RR
	TruncateUDP map[string]bool
	ServFail    map[string]bool
	Silent      map[string]bool
	TCPQueries  atomic.Int64 // queries that came over TCP
	Queries     atomic.Int64 // all queries
}

// NewZone parses zone, written in master-file format with absolute names.
func NewZone(t testing.TB, zone string) *Zone {
	t.Helper()
	z := &Zone{t: t, TruncateUDP: map[string]bool{}, ServFail: map[string]bool{}, Silent: map[string]bool{}}
	zp := dns.NewZoneParser(strings.NewReader(zone), "", "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		z.records = append(z.records, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("lookuptest: bad zone: %v", err)
	}
	return z
}

// ServeDNS answers one query: the records of the name and type asked for, NXDOMAIN for
// a name the zone does not hold.
func (z *Zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z.Queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	_, overTCP := w.RemoteAddr().(*net.TCPAddr)
	if overTCP {
		z.TCPQueries.Add(1)
	}
	switch name := strings.ToLower(q.Name); {
	case z.Silent[name]:
		return
	case z.ServFail[name]:
		m.Rcode = dns.RcodeServerFailure
		if err := w.WriteMsg(m); err != nil {
			z.t.Errorf("lookuptest: dns server: %v", err)
		}
		return
	}
	known := false
	for _, rr := range z.records {
		if !strings.EqualFold(rr.Header().Name, q.Name) {
			continue
		}
		known = true
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if !known {
		m.Rcode = dns.RcodeNameError
	}
	if z.TruncateUDP[strings.ToLower(q.Name)] && !overTCP {
		m.Answer = nil
		m.Truncated = true
	}
	if err := w.WriteMsg(m); err != nil {
		z.t.Errorf("lookuptest: dns server: %v", err)
	}
}

// ServeZone serves zone on loopback and returns the server's "127.0.0.1:port".
func ServeZone(t testing.TB, zone string) (string, *Zone) {
	t.Helper()
	z := NewZone(t, zone)
	return StartDNS(t, z), z
}

// StartDNS serves h over UDP and TCP on one loopback port until the test ends and
// returns "127.0.0.1:port".
func StartDNS(t testing.TB, h dns.Handler) string {
	t.Helper()
	var pc net.PacketConn
	var l net.Listener
	for range 10 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("lookuptest: no loopback port free for both UDP and TCP")
	}
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: l, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go s.ActivateAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("lookuptest: dns server did not start")
		}
		t.Cleanup(func() { s.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// WriteBootstrap writes an IANA RDAP bootstrap directory (ipv4.json, ipv6.json) that sends
// queries for the given networks to base, e.g. an httptest server's URL, and returns it.
func WriteBootstrap(t testing.TB, base string, v4, v6 []string) string {
	t.Helper()
	dir := t.TempDir()
	for file, nets := range map[string][]string{"ipv4.json": v4, "ipv6.json": v6} {
		quoted := make([]string, len(nets))
		for i, n := range nets {
			quoted[i] = fmt.Sprintf("%q", n)
		}
		doc := fmt.Sprintf(`{"description":"lookuptest","publication":"2026-01-01T00:00:00Z","version":"1.0","services":[[[%s],[%q]]]}`,
			strings.Join(quoted, ","), strings.TrimSuffix(base, "/")+"/")
		if err := os.WriteFile(filepath.Join(dir, file), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// HeldPTR is a resolver that holds every PTR query until Release, and closes Asked when
// the first one comes (a slow reverse zone, as an attacker's often is); it answers every
// query with NXDOMAIN.
type HeldPTR struct {
	Asked   chan struct{}
	once    sync.Once
	release chan struct{}
	done    sync.Once
}

// NewHeldPTR returns a HeldPTR; serve it with StartDNS.
func NewHeldPTR() *HeldPTR {
	return &HeldPTR{Asked: make(chan struct{}), release: make(chan struct{})}
}

// Release answers the held queries and every later one at once.
func (h *HeldPTR) Release() { h.done.Do(func() { close(h.release) }) }

// ServeDNS holds a PTR query until Release.
func (h *HeldPTR) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypePTR {
		h.once.Do(func() { close(h.Asked) })
		<-h.release
	}
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	w.WriteMsg(m)
}
