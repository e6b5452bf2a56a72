package mailer

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// BenchmarkCompose measures one report to one party about 20 sources with 12 evidence
// lines each: plain, with the X-ARF parts, and signed as well. A flood of attackers costs
// this per party per report_interval: a few milliseconds, even signed.
func BenchmarkCompose(b *testing.B) {
	var incs []abusewatch.Incident
	for i := range 20 {
		inc := testIncident()
		inc.ID = fmt.Sprintf("inc-%d", i)
		inc.Addr = netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
		inc.Evidence = nil
		for j := range 12 {
			inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.First.Add(time.Duration(j) * time.Second), Port: uint16(40000 + j),
				Service: "sshd", Line: fmt.Sprintf("web1 sshd[%d]: Failed password for root from %s port %d ssh2", j, inc.Addr, 40000+j)})
		}
		incs = append(incs, inc)
	}
	path, _ := testKey(b)
	signer, err := LoadSigner(path, "https://example.org/abuse.asc")
	if err != nil {
		b.Fatal(err)
	}
	base := testComposer(b)
	for _, tc := range []struct {
		name string
		c    *Composer
	}{{"plain", base}, {"xarf", base.With(Options{XARF: true})}, {"xarf+signed", base.With(Options{XARF: true, Signer: signer})}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tc.c.Compose(testContact(), incs, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
