package mailer

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/emersion/go-message"
)

// xarfVersion is the X-ARF schema version the machine-readable parts follow
// (https://xarf.org, schemas/v4: xarf-core.json with the connection types).
const xarfVersion = "4.0.0"

// xarfReport is one X-ARF v4 report: one source, one kind of abuse. A memo that covers
// several sources carries one of these per source, as xarf-1.json, xarf-2.json, ….
type xarfReport struct {
	XARFVersion      string         `json:"xarf_version"`
	ReportID         string         `json:"report_id"`
	Timestamp        string         `json:"timestamp"`
	Reporter         xarfReporter   `json:"reporter"`
	SourceIdentifier string         `json:"source_identifier"`
	SourcePort       int            `json:"source_port,omitempty"`
	Class            string         `json:"class"`
	Type             string         `json:"type"`
	Protocol         string         `json:"protocol"`
	FirstSeen        string         `json:"first_seen"`
	LastSeen         string         `json:"last_seen"`
	EvidenceSource   string         `json:"evidence_source"`
	Evidence         []xarfEvidence `json:"evidence"`
	Description      string         `json:"description"`
}

type xarfReporter struct {
	Org     string `json:"org"`
	Contact string `json:"contact"`
	Type    string `json:"type"`
}

type xarfEvidence struct {
	ContentType string `json:"content_type"`
	Description string `json:"description"`
	Payload     string `json:"payload"`
	Hash        string `json:"hash"`
	Size        int    `json:"size"`
}

// xarfType maps an incident to an X-ARF connection type: a scan, or a login attack.
// Incidents of other kinds get no machine-readable part rather than a wrong one.
func xarfType(inc abusewatch.Incident) string {
	for _, c := range inc.Classes {
		if strings.Contains(string(c), "scan") {
			return "port_scan"
		}
	}
	for _, c := range inc.Classes {
		switch c {
		case abusewatch.ClassAuthFailure, abusewatch.ClassInvalidUser:
			return "login_attack"
		}
	}
	return ""
}

// xarfReports are the X-ARF reports for one incident of report id, whose memo shows the
// lines evidence: one, or none (the schemas require a source port for an address, so an
// incident whose evidence has no port gets no X-ARF part). X-ARF names one address per
// report, so an incident about a whole network gets one per address: that of each
// incident folded into it (its own lines and times), and for the other addresses its
// lines name, each with that address's lines and the times of those lines (the
// network's first and last are not that address's, and a desk looks up who held a
// dynamic address at first_seen).
func (c *Composer) xarfReports(id string, inc abusewatch.Incident, evidence []string, folded []abusewatch.Incident, reported map[netip.Addr]bool) []xarfReport {
	typ := xarfType(inc)
	if typ == "" || !inc.Addr.IsValid() {
		return nil
	}
	what := "failed logins"
	if typ == "port_scan" {
		what = "connection attempts to closed ports"
	}
	hosts := strings.Join(c.hostNames(inc.Hosts), ", ")
	between := c.timestamp(inc.First) + " and " + c.timestamp(inc.Last)
	if !inc.AboutNetwork() {
		desc := fmt.Sprintf("%d connections (%d log lines) with %s from %s to our hosts %s between %s.",
			max(inc.Attempts, 1), inc.Count, what, inc.Addr, hosts, between)
		x, ok := c.xarfFor(id+"\x00"+inc.ID, typ, inc.Addr, inc.First, inc.Last, inc.Evidence, evidence, desc,
			fmt.Sprintf("%d of the %d log lines, in our time zone", len(evidence), inc.Count))
		if !ok {
			return nil
		}
		return []xarfReport{x}
	}
	var out []xarfReport
	own := map[netip.Addr]bool{}
	for _, f := range folded {
		out = append(out, c.xarfReports(id, f, c.memoIncident(f).Evidence, nil, nil)...)
		own[f.Addr.Unmap()] = true
	}
	shown := evidenceSample(inc.Evidence) // the events of evidence, one for one
	for _, a := range addressesOf(shown) {
		if own[a] || reported[a] {
			continue // that address's own incident gives its report
		}
		var evs []abusewatch.Event
		var lines []string
		for i, ev := range shown {
			if ev.Addr.Unmap() == a {
				evs, lines = append(evs, ev), append(lines, evidence[i])
			}
		}
		byTime := func(a, b abusewatch.Event) int { return a.Time.Compare(b.Time) }
		first, last := slices.MinFunc(evs, byTime).Time, slices.MaxFunc(evs, byTime).Time
		desc := fmt.Sprintf("%s is one of the addresses of %s, from which we saw %d connections (%d log lines) with %s to our hosts %s between %s; the lines of %s we show are between %s and %s.",
			a, inc.Network, max(inc.Attempts, 1), inc.Count, what, hosts, between, a, c.timestamp(first), c.timestamp(last))
		if x, ok := c.xarfFor(id+"\x00"+inc.ID+"\x00"+a.String(), typ, a, first, last, evs, lines, desc,
			fmt.Sprintf("the %d log lines of %s among those of %s we show, in our time zone", len(lines), a, inc.Network)); ok {
			out = append(out, x)
		}
	}
	return out
}

// xarfFor builds one X-ARF report of type typ about addr, seen from first to last, with
// evs (the events of the lines evidence) and the descriptions given; key makes its
// report_id. There is none when evs give no source port.
func (c *Composer) xarfFor(key, typ string, addr netip.Addr, first, last time.Time, evs []abusewatch.Event, evidence []string, desc, evidenceDesc string) (xarfReport, bool) {
	port := 0
	for _, ev := range evs {
		if ev.Port != 0 {
			port = int(ev.Port)
			break
		}
	}
	if port == 0 {
		return xarfReport{}, false
	}
	org := c.reporter.Organisation
	if org == "" {
		org = c.reporter.Name
	}
	if org == "" {
		org = c.domain
	}
	contact := c.reporter.Email
	if contact == "" {
		contact = c.from.Address
	}
	log := []byte(strings.Join(evidence, "\n") + "\n")
	sum := sha256.Sum256(log)
	return xarfReport{
		XARFVersion:      xarfVersion,
		ReportID:         uuidFor(key),
		Timestamp:        first.In(c.reporter.Location).Format(time.RFC3339),
		Reporter:         xarfReporter{Org: truncateRunes(sanitize(org), 200), Contact: contact, Type: "automated"},
		SourceIdentifier: addr.String(),
		SourcePort:       port,
		Class:            "connection",
		Type:             typ,
		Protocol:         "tcp",
		FirstSeen:        first.In(c.reporter.Location).Format(time.RFC3339),
		LastSeen:         last.In(c.reporter.Location).Format(time.RFC3339),
		EvidenceSource:   "ids_detection",
		Evidence: []xarfEvidence{{
			ContentType: "text/plain",
			Description: evidenceDesc,
			Payload:     base64.StdEncoding.EncodeToString(log),
			Hash:        "sha256:" + hex.EncodeToString(sum[:]),
			Size:        len(log),
		}},
		Description: truncateRunes(desc, 1000),
	}, true
}

// xarfEntities are the X-ARF attachments for the memo's incidents, in memo order, and
// for the incidents folded into them (by the network incident's ID): one per address.
func (c *Composer) xarfEntities(id string, incidents []abusewatch.Incident, m memo, folded map[string][]abusewatch.Incident) ([]entity, error) {
	var out []entity
	var all []xarfReport
	reported := map[netip.Addr]bool{} // addresses with an incident of their own in the memo
	for _, inc := range incidents {
		if !inc.AboutNetwork() && inc.Addr.IsValid() {
			reported[inc.Addr.Unmap()] = true
		}
	}
	for i, inc := range incidents {
		all = append(all, c.xarfReports(id, inc, m.Incidents[i].Evidence, folded[inc.ID], reported)...)
	}
	for _, x := range all {
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("xarf-%d.json", len(out)+1)
		var h message.Header
		h.SetContentType("application/json", map[string]string{"charset": "utf-8", "name": name})
		h.SetContentDisposition("attachment", map[string]string{"filename": name})
		h.Set("Content-Description", "X-ARF "+xarfVersion+" report: "+x.Type+" from "+x.SourceIdentifier)
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		e, err := newEntity(h, func(w io.Writer) error {
			_, err := io.Copy(w, bytes.NewReader(append(b, '\n')))
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// uuidFor derives a UUID from key (a report's ID and an incident's, and of an incident
// about a network, an address of it): deterministic, so the same report sent again
// carries the same X-ARF report_id, laid out as a version 4 UUID.
func uuidFor(key string) string {
	s := sha256.Sum256([]byte(key))
	u := s[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// truncateRunes cuts s to at most n runes, ending in "…" when it was cut.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(slices.Concat(r[:n-1], []rune("…")))
}
