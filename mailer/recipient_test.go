package mailer

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch"
)

// The memo says truthfully why it goes to whom it goes to (review session 21, D2):
// before, every recipient was told "I am writing to you as the listed contact for the
// network … coming from your network", a guessed domain owner and a national CERT too,
// and a provider answering for a customer's network was called that network's contact.

// recipientMemo is the memo of testIncident to contact.
func recipientMemo(t *testing.T, contact abusewatch.Contact, inc abusewatch.Incident) string {
	t.Helper()
	r, err := testComposer(t).Compose(contact, []abusewatch.Incident{inc}, inc.Last)
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	return unwrapped(text)
}

// unwrapped is text with its lines joined by spaces, so a phrase is found wherever the
// template wraps it.
func unwrapped(text string) string { return strings.Join(strings.Fields(text), " ") }

func mustNotContain(t *testing.T, text string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(text, u) {
			t.Errorf("memo says %q:\n%s", u, text)
		}
	}
}

// Case G: the registry (NIC.br's /14) names no one, and the guess is abuse@ and
// security@ of the domain of the address's reverse name, which its holder may set.
func TestTheMemoToAGuessedContactSaysItIsAGuessAndWhy(t *testing.T) {
	inc := testIncident()
	inc.Addr, inc.Network, inc.PTR = netip.MustParseAddr("177.0.0.9"), netip.MustParsePrefix("177.0.0.9/32"), "vps9.freedns-shared.com"
	for i := range inc.Evidence {
		inc.Evidence[i].Addr = inc.Addr
	}
	text := recipientMemo(t, abusewatch.Contact{
		Network: netip.MustParsePrefix("177.0.0.0/14"), Name: "153304", Country: "BR", PTR: "vps9.freedns-shared.com",
		Emails: []string{"abuse@freedns-shared.com", "security@freedns-shared.com"}, Role: "abuse", Source: "guess", Guess: true,
		Mailboxes: []abusewatch.Mailbox{{Email: "abuse@freedns-shared.com", Role: "abuse", Source: "guess"},
			{Email: "security@freedns-shared.com", Role: "security", Source: "guess"}},
	}, inc)
	mustContain(t, text,
		"We could not find an abuse contact for the network 177.0.0.0/14 (153304) in its registry.",
		"I am writing to you because the reverse name of the address 177.0.0.9, vps9.freedns-shared.com, is in your domain freedns-shared.com.",
		"if it is not yours, please accept our apologies",
		"coming from the network 177.0.0.0/14.")
	mustNotContain(t, text, "listed contact", "contact listed", "your network")
}

// Case C: the registry names no one, and the config's [[cert]] for the network's
// country is told, as the national CERT; a CERT beside a party's desk gets a copy, and
// the memo says so.
func TestTheMemoToANationalCERTSaysSo(t *testing.T) {
	cert := abusewatch.Mailbox{Email: "cert@cert.br", Role: "cert", Source: "static"}
	text := recipientMemo(t, abusewatch.Contact{
		Network: netip.MustParsePrefix("177.0.0.0/14"), Name: "153304", Country: "BR",
		Emails: []string{cert.Email}, Mailboxes: []abusewatch.Mailbox{cert}, Role: "cert", Source: "config",
	}, testIncident())
	mustContain(t, text,
		"I am writing to you as the national CERT of BR, for your information and coordination: we could not find an abuse contact for the network 177.0.0.0/14 (153304) in its registry.",
		"coming from the network 177.0.0.0/14.")
	mustNotContain(t, text, "listed contact", "contact listed", "your network")

	desk := abusewatch.Mailbox{Email: "abuse@isp.com.br", Role: "abuse", Source: "rdap"}
	text = recipientMemo(t, abusewatch.Contact{
		Network: netip.MustParsePrefix("203.0.113.0/24"), Name: "ISP-BR", Country: "BR", // the test incident's
		Emails: []string{desk.Email, cert.Email}, Mailboxes: []abusewatch.Mailbox{desk, cert}, Role: "abuse",
	}, testIncident())
	mustContain(t, text,
		"I am writing to you as the abuse contact listed for the network 203.0.113.0/24 (ISP-BR).",
		"A copy goes to cert@cert.br, the national CERT of BR, for their information.")
}

// Case F2: the customer's /24 names no one, and its provider's /16 answers for it: the
// memo names the /16 as the network whose contact the recipient is.
func TestTheMemoToTheCoveringNetworksContactSaysWhoseContactItIs(t *testing.T) {
	text := recipientMemo(t, abusewatch.Contact{
		Network: netip.MustParsePrefix("62.239.237.0/24"), Name: "CUSTOMER-NOCONTACT", Country: "GB",
		Covering: netip.MustParsePrefix("62.239.0.0/16"), CoveringName: "LIR-NET",
		Emails: []string{"abuse@lir.example"}, Mailboxes: []abusewatch.Mailbox{{Email: "abuse@lir.example", Role: "abuse", Source: "rdap"}}, Role: "abuse",
	}, testIncident())
	mustContain(t, text,
		"The registry lists no contact for the network 62.239.237.0/24 (CUSTOMER-NOCONTACT).",
		"I am writing to you as the contact listed for the network 62.239.0.0/16 (LIR-NET), which holds it.")
	mustNotContain(t, text, "contact listed for the network 62.239.237.0/24")
}

// The other ways a contact is found each say what they are.
func TestTheMemoSaysHowItsRecipientWasFound(t *testing.T) {
	net := netip.MustParsePrefix("203.0.113.0/24")
	for _, c := range []struct {
		name    string
		contact abusewatch.Contact
		want    string
	}{
		{"registry abuse desk", abusewatch.Contact{Network: net, Name: "ISP-NET-1", Emails: []string{"abuse@isp.example"}, Role: "abuse",
			Mailboxes: []abusewatch.Mailbox{{Email: "abuse@isp.example", Role: "abuse", Source: "rdap"}}},
			"I am writing to you as the abuse contact listed for the network 203.0.113.0/24 (ISP-NET-1)."},
		{"another registry role", abusewatch.Contact{Network: net, Name: "ISP-NET-1", Emails: []string{"noc@isp.example"}, Role: "technical",
			Mailboxes: []abusewatch.Mailbox{{Email: "noc@isp.example", Role: "technical", Source: "rdap"}}},
			"I am writing to you as the technical contact listed for the network 203.0.113.0/24 (ISP-NET-1) in its registry, which lists no abuse contact for it."},
		{"our [[contact]] table", abusewatch.Contact{Network: net, Emails: []string{"abuse@right.example"}, Role: "static", Source: "config",
			Mailboxes: []abusewatch.Mailbox{{Email: "abuse@right.example", Role: "static", Source: "static"}}},
			"I am writing to you as the contact we have on record for the network 203.0.113.0/24."},
		{"a report written before", abusewatch.Contact{Network: net, Name: "ISP-NET-1", Emails: []string{"abuse@isp.example"}},
			"I am writing to you as the contact listed for the network 203.0.113.0/24 (ISP-NET-1)."},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := recipientMemo(t, c.contact, testIncident())
			mustContain(t, text, c.want, "coming from your network.")
		})
	}
}

// Review 21c R5: a desk listed for two networks gets one report of the addresses of
// both, and the contact it is written to is the first address's. The memo does not
// name that network alone as the one whose contact it is.
func TestTheMemoToADeskListedForTwoNetworksNamesNeitherAlone(t *testing.T) {
	desk := abusewatch.Mailbox{Email: "abuse@same.example", Role: "abuse", Source: "rdap"}
	a, b := testIncident(), testIncident()
	b.ID, b.Key, b.Addr, b.Network = "inc-2", "ip:203.0.113.201", netip.MustParseAddr("203.0.113.201"), netip.MustParsePrefix("203.0.113.201/32")
	r, err := testComposer(t).Compose(abusewatch.Contact{
		Network: netip.MustParsePrefix("203.0.113.0/25"), Name: "NET-A", Country: "GB",
		Emails: []string{desk.Email}, Mailboxes: []abusewatch.Mailbox{desk}, Role: "abuse",
	}, []abusewatch.Incident{a, b}, b.Last)
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	text = unwrapped(text)
	mustContain(t, text, "I am writing to you as the abuse contact listed for the networks of the addresses below.")
	mustNotContain(t, text, "NET-A", "203.0.113.0/25")
}

// A guess gathers the reports of addresses in two networks that name no one (NIC.br's
// 177.0.0.0/14, a /24 whose abuse entity has no mail): its memo said "We could not find
// an abuse contact for the network 177.0.0.0/14 (153304)" and "coming from the network
// 177.0.0.0/14" of both, the first report's network. It names each network.
func TestTheMemoToAGuessOfTwoNetworksNamesEach(t *testing.T) {
	var incs []abusewatch.Incident
	for i, a := range []string{"177.0.0.9", "45.134.26.9"} {
		inc := testIncident()
		inc.ID, inc.Addr = inc.ID+string(rune('a'+i)), netip.MustParseAddr(a)
		inc.Network, inc.PTR = netip.PrefixFrom(inc.Addr, 32), "vps"+a+".freedns-shared.com"
		for j := range inc.Evidence {
			inc.Evidence[j].Addr = inc.Addr
			inc.Evidence[j].Line = strings.ReplaceAll(inc.Evidence[j].Line, "203.0.113.7", a)
		}
		incs = append(incs, inc)
	}
	br := netip.MustParsePrefix("177.0.0.0/14")
	contact := abusewatch.Contact{
		Network: br, Name: "153304", Country: "BR", PTR: "vps177.0.0.9.freedns-shared.com",
		Emails: []string{"abuse@freedns-shared.com"}, Role: "abuse", Source: "guess", Guess: true,
		Mailboxes: []abusewatch.Mailbox{{Email: "abuse@freedns-shared.com", Role: "abuse", Source: "guess"}},
		Networks:  []abusewatch.NamedNetwork{{Network: br, Name: "153304"}, {Network: netip.MustParsePrefix("45.134.26.0/24"), Name: "HOSTCO-NET"}},
	}
	r, err := testComposer(t).Compose(contact, incs, incs[0].Last)
	if err != nil {
		t.Fatal(err)
	}
	_, text := body(t, r.Message)
	text = unwrapped(text)
	mustContain(t, text,
		"We could not find an abuse contact for the networks 177.0.0.0/14 (153304), 45.134.26.0/24 (HOSTCO-NET) in their registries.",
		"coming from the networks 177.0.0.0/14 (153304), 45.134.26.0/24 (HOSTCO-NET).",
		"177.0.0.9", "45.134.26.9")
	mustNotContain(t, text, "for the network 177.0.0.0/14", "from the network 177.0.0.0/14", "your network")

	// The same guess for one of them alone names that one.
	text = recipientMemo(t, contact, incs[1])
	mustContain(t, text, "We could not find an abuse contact for the network 45.134.26.0/24 (HOSTCO-NET) in its registry.",
		"coming from the network 45.134.26.0/24.")
	mustNotContain(t, text, "177.0.0.0/14")
}
