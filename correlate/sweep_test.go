package correlate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/correlate"
)

// sweepsOf feeds one failed login of addr per host (with its program), a minute apart,
// in one batch and one by one, and returns the sweep incidents of each way.
func sweepsOf(t *testing.T, opts correlate.Options, addr string, hosts, programs []string) (oneBatch, oneByOne []abusewatch.Incident) {
	t.Helper()
	var evs []abusewatch.Event
	for i, host := range hosts {
		e := at(addr, t0.Add(time.Duration(i)*time.Minute), uint16(40000+i))
		e.Host, e.Service = host, programs[i]
		evs = append(evs, e)
	}
	return sweepsIn(t, opts, evs)
}

// sweepsIn feeds evs in one batch and one by one, and returns the sweep incidents of
// each way.
func sweepsIn(t *testing.T, opts correlate.Options, evs []abusewatch.Event) (oneBatch, oneByOne []abusewatch.Incident) {
	t.Helper()
	sweeps := func(incs []abusewatch.Incident) []abusewatch.Incident {
		return slices.DeleteFunc(incs, func(inc abusewatch.Incident) bool { return inc.Rule != "sweep" })
	}
	oneBatch = sweeps(newHarness(t, opts).feed(evs...))
	h := newHarness(t, opts)
	for _, e := range evs {
		for _, inc := range sweeps(h.feed(e)) {
			// A sweep that grows comes again: the newest of it counts.
			if i := slices.IndexFunc(oneByOne, func(o abusewatch.Incident) bool { return o.ID == inc.ID }); i >= 0 {
				oneByOne[i] = inc
			} else {
				oneByOne = append(oneByOne, inc)
			}
		}
	}
	return oneBatch, oneByOne
}

// One machine reaches us as "web1" from one sender, "WEB1" from a device and
// "web1.example.org" from another: it is one host, and three failed logins on it are no
// sweep. A short name is the FQDN that begins with it; two FQDNs are two hosts, and a
// short name both begin with is one of them. An address (a sender that named no host)
// may be any named host.
func TestSweepCountsAHostOnceHoweverItIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []string
		sweep bool
	}{
		{"three hosts", []string{"web1", "web2", "db1"}, true},
		{"one host in three cases", []string{"web1", "WEB1", "Web1"}, false},
		{"short, upper case and FQDN (the review's)", []string{"web1", "WEB1", "web1.example.org"}, false},
		{"FQDN with the root's dot and in capitals", []string{"web1.example.org", "web1.example.org.", "WEB1.EXAMPLE.ORG"}, false},
		{"two hosts, one of them named twice", []string{"web1", "web2", "web1.example.org"}, false},
		{"three hosts in mixed spellings", []string{"WEB1", "web2.example.org", "web3."}, true},
		{"four spellings of three hosts", []string{"web1", "web1.example.org", "web2", "WEB3"}, true},
		{"two FQDNs and the short name of both", []string{"web1.a.example", "web1.b.example", "web1"}, false},
		{"two FQDNs and another short name", []string{"web1.a.example", "web1.b.example", "web2"}, true},
		{"three FQDNs of one first label", []string{"web1.a.example", "web1.b.example", "web1.c.example"}, true},
		{"a short name that is only a prefix of an FQDN's label", []string{"web", "web1.example.org", "web2"}, true},
		{"two hosts and a sender that named none", []string{"web1", "web2", "192.0.2.7"}, false},
		{"three senders that named none", []string{"192.0.2.7", "192.0.2.8", "2001:db8::9"}, true},
		{"one sender's address in two spellings", []string{"2001:db8::9", "2001:DB8:0::9", "web1"}, false},
		{"two hosts and a sender the listener writes [address]", []string{"web1", "web2", "[192.0.2.7]"}, false},
		{"three senders the listener writes [address]", []string{"[192.0.2.7]", "[192.0.2.8]", "[2001:db8::9]"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute, Sweep: correlate.SetRule{Count: 3, Window: time.Hour}}
			programs := slices.Repeat([]string{"sshd"}, len(tc.hosts))
			oneBatch, oneByOne := sweepsOf(t, opts, "193.32.162.9", tc.hosts, programs)
			for way, got := range map[string][]abusewatch.Incident{"one batch": oneBatch, "one by one": oneByOne} {
				if tc.sweep != (len(got) > 0) || len(got) > 1 {
					t.Errorf("%s: %d sweeps (hosts %v), want a sweep: %v", way, len(got), hostsOf(got), tc.sweep)
				}
			}
		})
	}
}

func hostsOf(incs []abusewatch.Incident) []string {
	var out []string
	for _, inc := range incs {
		out = append(out, strings.Join(inc.Hosts, ","))
	}
	return out
}

// A sweep is one service on several hosts, whatever program serves it there: OpenSSH
// 9.8 and later log from sshd-session, earlier ones from sshd (a fleet mid-upgrade),
// and the shipped rules read dropbear's lines as SSH too. A packet filter's lines are
// the kernel's: their service is the port of ours they hit.
func TestSweepIsOneServiceWhateverProgramServesIt(t *testing.T) {
	type hit struct {
		host, program string
		port          uint16 // a firewall line: the port of ours, 0 for none
		proto         string
	}
	fw := func(host string, port uint16) hit { return hit{host, "kernel", port, "TCP"} }
	for _, tc := range []struct {
		name    string
		hits    []hit
		service string // of the sweep; "" none
	}{
		{"sshd on three hosts", []hit{{"web1", "sshd", 0, ""}, {"web2", "sshd", 0, ""}, {"web3", "sshd", 0, ""}}, "sshd"},
		{"sshd and sshd-session (the review's t13)", []hit{{"web1", "sshd", 0, ""}, {"web2", "sshd-session", 0, ""}, {"web3", "sshd-session", 0, ""}}, "sshd"},
		{"sshd-session, dropbear and sshd", []hit{{"web1", "sshd-session", 0, ""}, {"web2", "dropbear", 0, ""}, {"web3", "sshd", 0, ""}}, "sshd"},
		{"mariadbd and mysqld", []hit{{"db1", "mariadbd", 0, ""}, {"db2", "mysqld", 0, ""}, {"db3", "mariadbd", 0, ""}}, "mysql"},
		{"vsftpd, proftpd and pure-ftpd", []hit{{"ftp1", "vsftpd", 0, ""}, {"ftp2", "proftpd", 0, ""}, {"ftp3", "pure-ftpd", 0, ""}}, "ftp"},
		{"postfix, exim and sendmail", []hit{{"mx1", "postfix/smtpd", 0, ""}, {"mx2", "exim4", 0, ""}, {"mx3", "sm-mta", 0, ""}}, "smtp"},
		{"three services", []hit{{"web1", "sshd", 0, ""}, {"web2", "vsftpd", 0, ""}, {"web3", "mysqld", 0, ""}}, ""},
		{"dovecot is not SMTP", []hit{{"mx1", "postfix/smtpd", 0, ""}, {"mx2", "dovecot", 0, ""}, {"mx3", "exim", 0, ""}}, ""},
		{"a firewall's ports 22, 80 and 443 (the review's t15)", []hit{fw("web1", 22), fw("web2", 80), fw("web3", 443)}, ""},
		{"a firewall's port 22 on three hosts", []hit{fw("web1", 22), fw("web2", 22), fw("web3", 22)}, "port 22"},
		{"pings of three hosts", []hit{{"web1", "kernel", 0, "ICMP"}, {"web2", "kernel", 0, "ICMP"}, {"web3", "kernel", 0, "ICMP"}}, "ICMP"},
		// A probe of port 22 is not a failed SSH login: what a firewall saw and what
		// sshd logged are told apart.
		{"a firewall's port 22 and sshd", []hit{fw("web1", 22), {"web2", "sshd", 0, ""}, {"web3", "sshd", 0, ""}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := correlate.Options{Threshold: 5, Window: 10 * time.Minute, Sweep: correlate.SetRule{Count: 3, Window: time.Hour},
				Reportable: []abusewatch.Class{abusewatch.ClassAuthFailure}}
			var evs []abusewatch.Event
			for i, h := range tc.hits {
				e := at("2a01:4f8:74::1", t0.Add(time.Duration(i)*5*time.Second), uint16(40000+i))
				e.Host, e.Service = h.host, h.program
				if h.program == "kernel" {
					e.Class, e.LocalPort, e.Proto, e.Line = "port-probe", h.port, h.proto, "[UFW BLOCK] IN=eth0"
					if h.proto == "TCP" {
						e.Flags = "ACK"
					}
				}
				evs = append(evs, e)
			}
			oneBatch, oneByOne := sweepsIn(t, opts, evs)
			for way, got := range map[string][]abusewatch.Incident{"one batch": oneBatch, "one by one": oneByOne} {
				var keys []string
				for _, inc := range got {
					keys = append(keys, inc.Key)
				}
				want := []string(nil)
				if tc.service != "" {
					want = []string{"sweep:2a01:4f8:74::1|" + tc.service}
				}
				if !slices.Equal(keys, want) {
					t.Errorf("%s: sweeps %v, want %v", way, keys, want)
				}
			}
		})
	}
}
