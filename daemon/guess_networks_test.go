package daemon

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// A guessed party's one report gathers addresses of two networks that no registry
// names anyone for: NIC.br's 177.0.0.0/14 (its abuse entity has no mail) and a /24
// whose abuse entity has none either. Its memo said "We could not find an abuse
// contact for the network 177.0.0.0/14 (153304)" and "coming from the network
// 177.0.0.0/14" of both, the first network's words: it names each network, whether the
// addresses came in one round (one party) or a round apart (joined, gatherGuesses).
func TestAGuessOfTwoNetworksNamesEachInItsMemo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apart time.Duration
	}{{"one round", 0}, {"joined a round apart", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			r := lookuptest.NewRDAP(t)
			r.AnswerFile("177.0.0.0/14", "../lookup/testdata/rdap/ip_network_br.json")
			r.Answer("45.134.26.0/24", lookuptest.NetworkAnswer(netip.MustParsePrefix("45.134.26.0/24"), "HOSTCO-NET", "DE", ""))
			dns, _ := lookuptest.ServeZone(t, "9.0.0.177.in-addr.arpa. 60 IN PTR vps9.freedns-shared.com.\nvps9.freedns-shared.com. 60 IN A 177.0.0.9\n"+
				"9.26.134.45.in-addr.arpa. 60 IN PTR vps45.freedns-shared.com.\nvps45.freedns-shared.com. 60 IN A 45.134.26.9\n")
			c := &recipientCase{t: t, dir: t.TempDir(), rdapURL: r.URL, dns: dns, mode: "auto", guess: true}
			c.start()
			c.read("177.0.0.9", scanDay, 8)
			if tc.apart > 0 {
				c.round(scanDay.Add(tc.apart))
			}
			c.read("45.134.26.9", scanDay.Add(tc.apart), 8)
			c.round(scanDay.Add(tc.apart + time.Hour))

			rep := c.report(guessedBox, abusewatch.ReportPendingApproval)
			if len(rep.Incidents) != 2 {
				t.Fatalf("the guess's report holds %v, want both addresses' incidents\n%s", rep.Incidents, c.logs)
			}
			text := unwrap(mailText(t, rep.Message))
			saysAll(t, "the memo", text,
				"We could not find an abuse contact for the networks 177.0.0.0/14 (153304), 45.134.26.0/24 (HOSTCO-NET) in their registries.",
				"coming from the networks 177.0.0.0/14 (153304), 45.134.26.0/24 (HOSTCO-NET).",
				"177.0.0.9", "45.134.26.9")
			for _, wrong := range []string{"for the network 177.0.0.0/14", "from the network 177.0.0.0/14", "your network"} {
				if strings.Contains(text, wrong) {
					t.Errorf("the memo says %q:\n%s", wrong, text)
				}
			}
		})
	}
}
