package lookup

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"

	"github.com/miekg/dns"
)

// testZone is what the loopback DNS server knows. big.example.test only fits over TCP.
const testZone = `
1.2.0.192.in-addr.arpa. 60 IN PTR host1.example.test.
host1.example.test.     60 IN A   192.0.2.1
2.2.0.192.in-addr.arpa. 60 IN PTR liar.example.test.
liar.example.test.      60 IN A   198.51.100.9
1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 60 IN PTR host6.example.test.
host6.example.test.     60 IN AAAA 2001:db8::1
dual.example.test.      60 IN A    192.0.2.10
dual.example.test.      60 IN AAAA 2001:db8::10
big.example.test.       60 IN A    192.0.2.20
big.example.test.       60 IN A    192.0.2.21
big.example.test.       60 IN A    192.0.2.22
`

// newZoneServer serves testZone on loopback; big.example.test only fits over TCP.
func newZoneServer(t testing.TB) (*lookuptest.Zone, string) {
	t.Helper()
	z := lookuptest.NewZone(t, testZone)
	z.TruncateUDP["big.example.test."] = true
	return z, lookuptest.StartDNS(t, z)
}

func newDNSFinder(t *testing.T, server string) *Finder {
	t.Helper()
	f, err := New(Options{Resolvers: []string{server}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPTRForwardConfirmed(t *testing.T) {
	_, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	for addr, want := range map[string]string{
		"192.0.2.1":        "host1.example.test",
		"::ffff:192.0.2.1": "host1.example.test",
		"2001:db8::1":      "host6.example.test",
	} {
		name, ok, err := f.PTR(t.Context(), netip.MustParseAddr(addr))
		if err != nil || name != want || !ok {
			t.Errorf("PTR(%s) = %q, %v, %v; want %q, true, nil", addr, name, ok, err, want)
		}
	}
}

func TestPTRNotForwardConfirmed(t *testing.T) {
	_, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	name, ok, err := f.PTR(t.Context(), netip.MustParseAddr("192.0.2.2"))
	if err != nil || name != "liar.example.test" || ok {
		t.Errorf("PTR = %q, %v, %v; want liar.example.test, false, nil", name, ok, err)
	}
}

func TestPTRNoReverseName(t *testing.T) {
	_, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	name, ok, err := f.PTR(t.Context(), netip.MustParseAddr("192.0.2.99"))
	if err != nil || name != "" || ok {
		t.Errorf("PTR = %q, %v, %v; want empty, false, nil", name, ok, err)
	}
}

func TestResolveAAndAAAA(t *testing.T) {
	_, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	got, err := f.Resolve(t.Context(), "dual.example.test")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")}
	if !slices.Equal(got, want) {
		t.Errorf("Resolve = %v, want %v", got, want)
	}
	if _, err := f.Resolve(t.Context(), "nowhere.example.test"); err == nil {
		t.Error("Resolve of an unknown name: no error")
	}
}

func TestResolveTruncatedRetriesOverTCP(t *testing.T) {
	z, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	got, err := f.Resolve(t.Context(), "big.example.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("Resolve = %v, want the 3 addresses only TCP gives", got)
	}
	if z.TCPQueries.Load() == 0 {
		t.Error("no query arrived over TCP")
	}
}

// silentServer reads queries and never answers, reporting each one it gets.
type silentServer struct{ got chan struct{} }

func (s silentServer) ServeDNS(dns.ResponseWriter, *dns.Msg) {
	select {
	case s.got <- struct{}{}:
	default:
	}
}

func TestDNSTimeoutSilentServer(t *testing.T) {
	server := lookuptest.StartDNS(t, silentServer{got: make(chan struct{}, 1)})
	f := newDNSFinder(t, server)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := f.PTR(ctx, netip.MustParseAddr("192.0.2.1"))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("PTR against a silent server: %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("PTR did not honour the context deadline")
	}
}

func TestDNSCancelSilentServer(t *testing.T) {
	s := silentServer{got: make(chan struct{}, 1)}
	server := lookuptest.StartDNS(t, s)
	f := newDNSFinder(t, server)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := f.Resolve(ctx, "host1.example.test")
		done <- err
	}()
	select {
	case <-s.got:
	case <-time.After(5 * time.Second):
		t.Fatal("the query never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Resolve after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Resolve did not return on cancel (the 5s per-query timeout would)")
	}
}

func TestNoResolvConf(t *testing.T) {
	_, err := systemResolvers(t.TempDir() + "/resolv.conf")
	if err == nil {
		t.Fatal("missing resolv.conf: no error")
	}
	f := &Finder{dnsErr: err, timeout: time.Second}
	if _, err := f.Resolve(t.Context(), "host1.example.test"); err == nil {
		t.Error("Resolve without resolvers: no error")
	}
}

// TestLookupNameAmbiguous: a name from a log with one address is that address; with
// several, or none, the log line does not say which host it was.
func TestLookupNameAmbiguous(t *testing.T) {
	_, server := newZoneServer(t)
	f := newDNSFinder(t, server)
	for name, want := range map[string]struct {
		addrs     int
		ambiguous bool
	}{
		"host1.example.test":   {1, false},
		"dual.example.test":    {2, true},
		"big.example.test.":    {3, true}, // only over TCP
		"nowhere.example.test": {0, true}, // NXDOMAIN
	} {
		n, err := f.LookupName(t.Context(), name)
		if err != nil || len(n.Addrs) != want.addrs || n.Ambiguous != want.ambiguous {
			t.Errorf("LookupName(%s) = %+v, %v; want %d addresses, ambiguous %v", name, n, err, want.addrs, want.ambiguous)
		}
	}
	if _, err := f.LookupName(t.Context(), "not a name!"); err == nil {
		t.Error("LookupName of garbage: no error")
	}
}

// TestDNSServFailMovesToNextResolver: the first resolver answers SERVFAIL, the second
// answers; with only the broken one, the error says SERVFAIL.
func TestDNSServFailMovesToNextResolver(t *testing.T) {
	broken := lookuptest.NewZone(t, testZone)
	broken.ServFail["host1.example.test."] = true
	brokenAddr := lookuptest.StartDNS(t, broken)
	_, good := newZoneServer(t)

	f, err := New(Options{Resolvers: []string{brokenAddr, good}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.LookupName(t.Context(), "host1.example.test"); err != nil || len(n.Addrs) != 1 {
		t.Errorf("LookupName = %+v, %v; want the second resolver's answer", n, err)
	}
	f = newDNSFinder(t, brokenAddr)
	if _, err := f.LookupName(t.Context(), "host1.example.test"); err == nil || !strings.Contains(err.Error(), "SERVFAIL") {
		t.Errorf("error = %v, want one saying SERVFAIL", err)
	}
}

// TestDNSSilentNameTimesOut: a server that answers some names and drops others (a broken
// delegation) makes the lookup fail at the timeout, not hang.
func TestDNSSilentNameTimesOut(t *testing.T) {
	z := lookuptest.NewZone(t, testZone)
	z.Silent["host1.example.test."] = true
	server := lookuptest.StartDNS(t, z)
	f, err := New(Options{Resolvers: []string{server}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.LookupName(t.Context(), "host1.example.test")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lookup did not honour the per-query timeout")
	}
	if n, err := f.LookupName(t.Context(), "dual.example.test"); err != nil || len(n.Addrs) != 2 {
		t.Errorf("a name the server answers: %+v, %v", n, err)
	}
}

// TestAbuseZoneTXTOverTCP: a zone answer too big for UDP is fetched again over TCP.
func TestAbuseZoneTXTOverTCP(t *testing.T) {
	z := lookuptest.NewZone(t, `1.2.0.192.abuse.zone.test. 60 IN TXT "abuse@big.example"`)
	z.TruncateUDP["1.2.0.192.abuse.zone.test."] = true
	server := lookuptest.StartDNS(t, z)
	f, err := New(Options{Resolvers: []string{server}, AbuseZone: "abuse.zone.test."})
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := f.zoneContact(t.Context(), netip.MustParseAddr("192.0.2.1"))
	if err != nil || len(mbs) != 1 || mbs[0].Email != "abuse@big.example" || z.TCPQueries.Load() == 0 {
		t.Errorf("zoneContact = %+v, %v (TCP queries %d); want the address over TCP", mbs, err, z.TCPQueries.Load())
	}
}
