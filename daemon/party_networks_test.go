package daemon

import (
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/lookup/lookuptest"
)

// One provider listed for two registry networks (62.239.237.0/25 NET-A and
// 62.239.237.128/25 NET-B, both abuse@same.example) is one party of a network incident
// holding addresses of both: its report names a network that holds every address it
// lists. Before, the party took the contact of its first address, and its share was
// narrowed to that contact's /25: "Source network: 62.239.237.0/25" in the subject and
// the memo, with .201-.203 of the other /25 among the addresses seen (review 21 D4,
// case S).
func TestAPartyListedForTwoNetworksIsToldANetworkHoldingAllItsAddresses(t *testing.T) {
	r := lookuptest.NewRDAP(t)
	answer(r, "62.239.237.0/25", "NET-A", "GB", "abuse@same.example")
	answer(r, "62.239.237.128/25", "NET-B", "GB", "abuse@same.example")
	c := newRV21Case(t, r, "", "", "")
	c.scan(t, "08:00 62.239.237.20 3", "08:01 62.239.237.30 3", "08:02 62.239.237.40 3",
		"08:03 62.239.237.201 3", "08:04 62.239.237.202 3", "08:05 62.239.237.203 3")
	mails := c.mails(t)
	if len(mails) != 1 {
		t.Fatalf("%d reports mailed, want one to abuse@same.example:\n%s\n%s", len(mails), strings.Join(mails, "\n----\n"), c.logs)
	}
	text := mails[0]
	saysAll(t, "the report", text, "To: <abuse@same.example>",
		"Abuse report: repeated SSH login attempts from 62.239.237.0/24", "Source network:  62.239.237.0/24",
		"62.239.237.20", "62.239.237.203")
	// Nor does the memo's first line name one /25 alone as the network whose contact
	// it writes to (review 21c R5).
	saysAll(t, "the memo", unwrap(text), "I am writing to you as the abuse contact listed for the networks of the addresses below.")
	if strings.Contains(text, "NET-A") || strings.Contains(text, "NET-B") {
		t.Errorf("the memo names one of the party's two networks as its:\n%s", text)
	}
	if strings.Contains(text, "Source network:  62.239.237.0/25") || strings.Contains(text, "from 62.239.237.0/25") ||
		strings.Contains(text, "addresses of 62.239.237.0/25") {
		t.Errorf("the report names 62.239.237.0/25 as the source of addresses outside it:\n%s", text)
	}
}
