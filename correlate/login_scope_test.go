package correlate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// A device fails from one temporary IPv6 address and logs in from another of its /64
// (RFC 4941): the failing address is our own user's, and its incident must not be
// reported outside ("We saw no successful login from this address"). For IPv4 a login
// holds back only its own address's reports. The login may come before the failures
// or after them, within success_lookback of them, read in the same batch, in another,
// or by a pass over history.
func TestALoginHoldsBackTheReportsOfItsIPv6Slash64(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	lookback := time.Hour
	const failing6, failing4 = "2a01:4f8:90:1:a:b:c:6", "5.9.7.6"
	for _, tc := range []struct {
		name    string
		failing string
		login   string
		at      time.Duration // of the login, from the first failure (the last is at 50 s)
		success bool          // the failing address's incident is marked (held back)
	}{
		{"IPv6: another address of the /64 two minutes after (the review's t7)", failing6, "2a01:4f8:90:1:d:e:f:5", 2 * time.Minute, true},
		{"IPv6: another address of the /64 the lookback after", failing6, "2a01:4f8:90:1:d:e:f:5", 50*time.Second + lookback, true},
		{"IPv6: another address of the /64 just after the lookback", failing6, "2a01:4f8:90:1:d:e:f:5", 50*time.Second + lookback + time.Second, false},
		{"IPv6: another address of the /64 before", failing6, "2a01:4f8:90:1::1", -30 * time.Minute, true},
		{"IPv6: another address of the /64 the lookback before", failing6, "2a01:4f8:90:1::1", -lookback, true},
		{"IPv6: another address of the /64 just before the lookback", failing6, "2a01:4f8:90:1::1", -lookback - time.Second, false},
		{"IPv6: the address itself", failing6, failing6, 2 * time.Minute, true},
		{"IPv6: the next /64", failing6, "2a01:4f8:90:2:a:b:c:6", 2 * time.Minute, false},
		{"IPv4: another address of the /24", failing4, "5.9.7.5", 2 * time.Minute, false},
		{"IPv4: the address itself", failing4, failing4, 2 * time.Minute, true},
		{"IPv4: the address itself before", failing4, failing4, -30 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evs []abusewatch.Event
			for i := range 6 {
				evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * 10 * time.Second), Class: abusewatch.ClassAuthFailure,
					Addr: netip.MustParseAddr(tc.failing), Port: uint16(40000 + i), Service: "sshd", Host: "web1",
					Line: "Failed password for alice from " + tc.failing})
			}
			login := abusewatch.Event{Time: t0.Add(tc.at), Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(tc.login),
				Port: 41000, Service: "sshd", Host: "web1", Line: "Accepted password for alice from " + tc.login}
			if tc.at < 0 {
				evs = append([]abusewatch.Event{login}, evs...)
			} else {
				evs = append(evs, login)
			}
			opts := Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: lookback}
			ways := map[string]map[string]abusewatch.Incident{}
			for _, batch := range []int{1, 3, len(evs)} {
				ways[map[int]string{1: "live, one by one", 3: "live, batches of 3", len(evs): "live, one batch"}[batch]] = appliedLive(t, opts, evs, batch)
			}
			ways["a pass"] = appliedInAPass(t, opts, evs, 2)
			for way, incs := range ways {
				n := 0
				for _, inc := range incs {
					if inc.Key != "ip:"+tc.failing {
						continue
					}
					n++
					if inc.Success != tc.success {
						t.Errorf("%s: %s Success = %v, want %v", way, inc.Key, inc.Success, tc.success)
					}
				}
				if n != 1 {
					t.Errorf("%s: %d incidents of %s, want 1: %v", way, n, tc.failing, summaries(incidentsInOrder(incs)))
				}
			}
		})
	}
}

// A login stored before the correlator started (an earlier run) is read from the store:
// for IPv6, from the failing address's /64; for IPv4, from the address alone.
func TestALoginStoredBeforeHoldsBackItsSlash64(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		failing, login string
		success        bool
	}{
		{"2a01:4f8:90:1:a:b:c:6", "2a01:4f8:90:1:d:e:f:5", true},
		{"2a01:4f8:90:1:a:b:c:6", "2a01:4f8:90:2:d:e:f:5", false},
		{"5.9.7.6", "5.9.7.6", true},
		{"5.9.7.6", "5.9.7.5", false},
	} {
		t.Run(tc.failing+" after "+tc.login, func(t *testing.T) {
			opts := Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: time.Hour}
			st := tempStore(t)
			login := abusewatch.Event{Time: t0, Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(tc.login),
				Port: 41000, Service: "sshd", Host: "web1", Line: "Accepted password for alice"}
			if _, err := st.Commit([]abusewatch.Event{login}, nil); err != nil {
				t.Fatal(err)
			}
			c, err := New(opts, st, st, st)
			if err != nil {
				t.Fatal(err)
			}
			var evs []abusewatch.Event
			for i := range 6 {
				evs = append(evs, abusewatch.Event{Time: t0.Add(20*time.Minute + time.Duration(i)*10*time.Second), Class: abusewatch.ClassAuthFailure,
					Addr: netip.MustParseAddr(tc.failing), Port: uint16(40000 + i), Service: "sshd", Host: "web1", Line: "Failed password for alice"})
			}
			stored, err := st.Commit(evs, nil)
			if err != nil {
				t.Fatal(err)
			}
			incs, err := c.Correlate(t.Context(), stored)
			if err != nil {
				t.Fatal(err)
			}
			if len(incs) != 1 || incs[0].Key != "ip:"+tc.failing || incs[0].Success != tc.success {
				t.Errorf("incidents %v; want ip:%s with Success %v", summaries(incs), tc.failing, tc.success)
			}
		})
	}
}

// A network incident holds a login back when the login came from the /64 of one of its
// addresses (IPv6), or from one of its addresses (IPv4); not from elsewhere in the
// network.
func TestALoginHoldsBackTheNetworkOfItsSlash64(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		sources []string
		size    int
		login   string
		success bool
	}{
		{"IPv6 /48: the /64 of a source", []string{"2a01:4f8:90:1::a", "2a01:4f8:90:2::b", "2a01:4f8:90:3::c"}, 16, "2a01:4f8:90:1::99", true},
		{"IPv6 /48: a source", []string{"2a01:4f8:90:1::a", "2a01:4f8:90:2::b", "2a01:4f8:90:3::c"}, 16, "2a01:4f8:90:2::b", true},
		{"IPv6 /48: another /64", []string{"2a01:4f8:90:1::a", "2a01:4f8:90:2::b", "2a01:4f8:90:3::c"}, 16, "2a01:4f8:90:4::a", false},
		{"IPv4 /24: a source", []string{"5.9.7.1", "5.9.7.2", "5.9.7.3"}, 24, "5.9.7.1", true},
		{"IPv4 /24: another address", []string{"5.9.7.1", "5.9.7.2", "5.9.7.3"}, 24, "5.9.7.4", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evs []abusewatch.Event
			for i, a := range tc.sources {
				evs = append(evs, abusewatch.Event{Time: t0.Add(time.Duration(i) * time.Minute), Class: abusewatch.ClassAuthFailure,
					Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Service: "sshd", Host: "web1", Line: "Failed password for alice from " + a})
			}
			evs = append(evs, abusewatch.Event{Time: t0.Add(10 * time.Minute), Class: abusewatch.ClassAuthSuccess, Addr: netip.MustParseAddr(tc.login),
				Port: 41000, Service: "sshd", Host: "web1", Line: "Accepted password for alice from " + tc.login})
			opts := Options{Threshold: 5, Window: 10 * time.Minute, SuccessLookback: time.Hour,
				Network: NetworkRule{SetRule: SetRule{Count: 3, Window: time.Hour}, Sizes: []int{tc.size}}}
			for _, batch := range []int{1, len(evs)} {
				n := 0
				for _, inc := range appliedLive(t, opts, evs, batch) {
					if inc.Rule != "network" {
						continue
					}
					n++
					if inc.Success != tc.success {
						t.Errorf("batches of %d: %s Success = %v, want %v", batch, inc.Key, inc.Success, tc.success)
					}
				}
				if n != 1 {
					t.Errorf("batches of %d: %d network incidents, want 1", batch, n)
				}
			}
		})
	}
}
