package mailer

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/mailer/mailtest"
)

// parts returns the header of a multipart message and its parts, with their bodies
// decoded.
func parts(t *testing.T, msg []byte) (mail.Header, []mailtest.Part, [][]byte) {
	t.Helper()
	h, ps, err := mailtest.Parts(msg)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("Content-Type %q: want multipart", h.Get("Content-Type"))
	}
	bodies := make([][]byte, len(ps))
	for i, p := range ps {
		bodies[i] = p.Body
	}
	return h, ps, bodies
}

func xarfComposer(t *testing.T) *Composer {
	return testComposer(t).With(Options{XARF: true})
}

func TestXARFPartValidatesAgainstTheLoginAttackSchema(t *testing.T) {
	inc := testIncident()
	inc.Evidence[0].Port = 4242
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, ps, bodies := parts(t, r.Message)
	if len(ps) != 2 {
		t.Fatalf("%d parts, want the memo and one X-ARF report", len(ps))
	}
	if ct := ps[0].Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("first part %q, want the memo as text/plain", ct)
	}
	if ct := ps[1].Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("second part %q, want application/json", ct)
	}
	if d := ps[1].Header.Get("Content-Disposition"); !strings.Contains(d, "xarf-1.json") {
		t.Errorf("Content-Disposition %q, want the file name xarf-1.json", d)
	}
	var doc any
	if err := json.Unmarshal(bodies[1], &doc); err != nil {
		t.Fatalf("X-ARF part is not JSON: %v\n%s", err, bodies[1])
	}
	if errs := validate(t, "types/connection-login-attack.json", doc); len(errs) > 0 {
		t.Errorf("X-ARF part does not validate:\n%s\n%s", strings.Join(errs, "\n"), bodies[1])
	}
	x := doc.(map[string]any)
	if x["source_identifier"] != "203.0.113.7" || x["source_port"] != 4242.0 || x["type"] != "login_attack" {
		t.Errorf("source %v port %v type %v", x["source_identifier"], x["source_port"], x["type"])
	}
	if x["first_seen"] != "2026-11-20T03:14:07-05:00" {
		t.Errorf("first_seen %v: want our zone with its offset", x["first_seen"])
	}
	ev := x["evidence"].([]any)[0].(map[string]any)
	log, _ := base64.StdEncoding.DecodeString(ev["payload"].(string))
	if !strings.Contains(string(log), "Failed password for root from 203.0.113.7 port 4242") {
		t.Errorf("evidence payload lacks the log line:\n%s", log)
	}
	if strings.ContainsAny(string(log), "\r\x00\x1b") {
		t.Errorf("evidence payload holds control characters: %q", log)
	}
}

func TestXARFPartValidatesAgainstThePortScanSchema(t *testing.T) {
	inc := testIncident()
	inc.Classes = []abusewatch.Class{"port-scan"}
	inc.Evidence[0].Port = 51000
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, ps, bodies := parts(t, r.Message)
	if len(ps) != 2 {
		t.Fatalf("%d parts, want 2", len(ps))
	}
	var doc any
	if err := json.Unmarshal(bodies[1], &doc); err != nil {
		t.Fatal(err)
	}
	if errs := validate(t, "types/connection-port-scan.json", doc); len(errs) > 0 {
		t.Errorf("X-ARF part does not validate:\n%s\n%s", strings.Join(errs, "\n"), bodies[1])
	}
	if doc.(map[string]any)["type"] != "port_scan" {
		t.Errorf("type %v", doc.(map[string]any)["type"])
	}
}

func TestXARFOnePartPerSourceAndNoneWithoutAPort(t *testing.T) {
	a, b, noPort := testIncident(), testIncident(), testIncident()
	a.Evidence[0].Port = 1
	b.ID, b.Addr, b.Evidence = "inc-2", netip.MustParseAddr("203.0.113.9"), []abusewatch.Event{{Time: b.First, Port: 2, Line: "x"}}
	noPort.ID, noPort.Addr = "inc-3", netip.MustParseAddr("203.0.113.10")
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{a, b, noPort}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, ps, bodies := parts(t, r.Message)
	if len(ps) != 3 {
		t.Fatalf("%d parts, want the memo and two X-ARF reports (the third source has no port)", len(ps))
	}
	var ids []string
	for _, b := range bodies[1:] {
		doc := loginAttack(t, b)
		ids = append(ids, doc["report_id"].(string))
	}
	if ids[0] == ids[1] {
		t.Errorf("both X-ARF reports have the ID %s", ids[0])
	}
}

// An incident about a whole network, as the network rule makes it (its Addr is the first
// address, to look it up through): the memo names the network and the addresses its
// lines show, never one address as the source nor that address's reverse name, and the
// X-ARF reports, which name one address each, are one per address with its own lines.
func TestANetworkIncidentIsReportedAsTheNetwork(t *testing.T) {
	inc := testIncident()
	inc.ID, inc.Key, inc.Rule = "net-1", "net:203.0.113.0/24", "network"
	inc.Network, inc.PTR = netip.MustParsePrefix("203.0.113.0/24"), "host7.example.net"
	inc.Evidence = nil
	for i, a := range []string{"203.0.113.7", "203.0.113.9", "203.0.113.7", "203.0.113.20"} {
		inc.Evidence = append(inc.Evidence, abusewatch.Event{Time: inc.First.Add(time.Duration(i) * time.Second), Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Service: "sshd", Line: fmt.Sprintf("sshd[4%d]: Failed password for root from %s port %d ssh2", i, a, 40000+i)})
	}
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Abuse report: repeated SSH login attempts from 203.0.113.0/24"; r.Subject != want {
		t.Errorf("Subject = %q, want %q", r.Subject, want)
	}
	_, ps, bodies := parts(t, r.Message)
	memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
	mustContain(t, memo, "Source network:  203.0.113.0/24\nAmong them:      203.0.113.7, 203.0.113.9, 203.0.113.20\nFirst seen:",
		"We saw no successful login from this network.")
	if strings.Contains(memo, "Source address:") || strings.Contains(memo, "host7.example.net") {
		t.Errorf("the memo gives the network's incident one address as its source:\n%s", memo)
	}
	// Made since incidents keep their sources, it names every address, not only those
	// of the lines it shows.
	withSources := inc
	for _, a := range []string{"203.0.113.7", "203.0.113.9", "203.0.113.11", "203.0.113.20", "203.0.113.200"} {
		withSources.Sources = append(withSources.Sources, netip.MustParseAddr(a))
	}
	r2, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{withSources}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, _, bodies2 := parts(t, r2.Message)
	mustContain(t, strings.ReplaceAll(string(bodies2[0]), "\r\n", "\n"), "Source network:  203.0.113.0/24\nAddresses seen:  5\n"+
		"                 203.0.113.7, 203.0.113.9, 203.0.113.11, 203.0.113.20\n                 203.0.113.200\nFirst seen:")
	if len(ps) != 4 {
		t.Fatalf("%d parts, want the memo and an X-ARF report for each of the 3 addresses", len(ps))
	}
	ids := map[string]bool{}
	for i, want := range []struct {
		addr  string
		lines int
	}{{"203.0.113.7", 2}, {"203.0.113.9", 1}, {"203.0.113.20", 1}} {
		doc := loginAttack(t, bodies[i+1])
		log, _ := base64.StdEncoding.DecodeString(doc["evidence"].([]any)[0].(map[string]any)["payload"].(string))
		if doc["source_identifier"] != want.addr || strings.Count(string(log), "from "+want.addr+" port") != want.lines ||
			strings.Count(string(log), "Failed password") != want.lines {
			t.Errorf("X-ARF report %d: source %v, lines\n%s; want %s's %d lines alone", i+1, doc["source_identifier"], log, want.addr, want.lines)
		}
		if !strings.Contains(doc["description"].(string), "203.0.113.0/24") {
			t.Errorf("X-ARF report %d does not say the address is one of the network's: %v", i+1, doc["description"])
		}
		ids[doc["report_id"].(string)] = true
	}
	if len(ids) != 3 {
		t.Errorf("the X-ARF reports share IDs: %v", ids)
	}
}

// Per-address incidents whose times meet those of a network incident of the same
// report (same network) are not shown again: their events were counted twice and each
// address got two X-ARF reports. One held whole adds nothing to the network's counts;
// one that goes on after it widens the network's times and adds at least its lines
// outside them ("at least": how many of the rest the network holds, only the lines
// kept tell). Each address's X-ARF report carries its own times, from its incident and
// its lines among the network's, not the network's.
func TestAddressIncidentsFoldIntoTheirNetworkIncident(t *testing.T) {
	base := testIncident()
	t0 := base.First
	net := base
	net.ID, net.Key, net.Rule = "net-1", "net:203.0.113.0/24", "network"
	net.Network, net.PTR, net.Last, net.Count, net.Attempts = netip.MustParsePrefix("203.0.113.0/24"), "", t0.Add(time.Hour), 120, 60
	net.Evidence = nil
	for i, a := range []string{"203.0.113.7", "203.0.113.9", "203.0.113.20", "203.0.113.20"} {
		at := t0.Add(time.Duration(10*i) * time.Minute)
		net.Evidence = append(net.Evidence, abusewatch.Event{Time: at, Class: abusewatch.ClassAuthFailure,
			Addr: netip.MustParseAddr(a), Port: uint16(40000 + i), Service: "sshd", Line: fmt.Sprintf("sshd[4%d]: Failed password for root from %s port %d ssh2", i, a, 40000+i)})
		net.Sources = append(net.Sources, netip.MustParseAddr(a))
	}
	address := func(id, addr string, from, to time.Duration) abusewatch.Incident {
		inc := base
		inc.ID, inc.Key, inc.Addr, inc.Network = id, "ip:"+addr, netip.MustParseAddr(addr), netip.MustParsePrefix(addr+"/32")
		inc.First, inc.Last, inc.Count, inc.Attempts = t0.Add(from), t0.Add(to), 12, 6
		inc.Evidence = []abusewatch.Event{{Time: inc.First, Class: abusewatch.ClassAuthFailure, Addr: inc.Addr, Port: 50000,
			Service: "sshd", Line: "sshd[5]: Failed password for root from " + addr + " port 50000 ssh2"}}
		return inc
	}
	held := address("ip-7", "203.0.113.7", 5*time.Minute, 20*time.Minute)   // inside the network's times: folded
	later := address("ip-9", "203.0.113.9", 50*time.Minute, 2*time.Hour)    // goes on after it: folded too
	other := address("ip-x", "198.51.100.4", 5*time.Minute, 20*time.Minute) // another network: shown
	r, err := xarfComposer(t).Compose(testContact(), []abusewatch.Incident{held, net, later, other}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Incidents) != 4 {
		t.Errorf("the report names %v; want all four incidents, so none is reported again", r.Incidents)
	}
	if want := "Abuse report: repeated SSH login attempts from 203.0.113.0/24 and 1 other source"; r.Subject != want {
		t.Errorf("Subject = %q, want %q", r.Subject, want)
	}
	_, _, bodies := parts(t, r.Message)
	memo := strings.ReplaceAll(string(bodies[0]), "\r\n", "\n")
	if strings.Contains(memo, "Source address:  203.0.113.7") || strings.Contains(memo, "Source address:  203.0.113.9") ||
		!strings.Contains(memo, "Source address:  198.51.100.4") || !strings.Contains(memo, "Source network:  203.0.113.0/24") {
		t.Errorf("the memo does not show the network and 198.51.100.4 alone:\n%s", memo)
	}
	ts := func(d time.Duration) string { return t0.Add(d).In(est).Format(timeLayout) }
	mustContain(t, memo, "Source network:  203.0.113.0/24\nAddresses seen:  3\n", "First seen:      "+ts(0)+"\nLast seen:       "+ts(2*time.Hour)+
		"\nConnections:     at least 60 (at least 120 log lines)\n")
	seen := map[string]map[string]any{}
	for _, b := range bodies[1:] {
		doc := xarfPart(t, b)
		a := doc["source_identifier"].(string)
		if seen[a] != nil {
			t.Errorf("two X-ARF reports for %s", a)
		}
		seen[a] = doc
	}
	rfc := func(d time.Duration) string { return t0.Add(d).In(est).Format(time.RFC3339) }
	for addr, want := range map[string][2]string{
		"203.0.113.7":  {rfc(0), rfc(20 * time.Minute)},                // its line in the network's at 0, then its incident's
		"203.0.113.9":  {rfc(10 * time.Minute), rfc(2 * time.Hour)},    // likewise at 10 minutes
		"203.0.113.20": {rfc(20 * time.Minute), rfc(30 * time.Minute)}, // its lines in the network's
		"198.51.100.4": {rfc(5 * time.Minute), rfc(20 * time.Minute)},
	} {
		doc := seen[addr]
		if doc == nil {
			t.Errorf("no X-ARF report for %s", addr)
			continue
		}
		if doc["first_seen"] != want[0] || doc["last_seen"] != want[1] {
			t.Errorf("%s: seen %v to %v, want %s to %s", addr, doc["first_seen"], doc["last_seen"], want[0], want[1])
		}
	}
	// 203.0.113.7's line at 0 lies outside its incident: one line and one connection
	// more; the network kept 4 of its 120 lines, more of them may be its (R6).
	if d := seen["203.0.113.7"]["description"]; d == nil || !strings.HasPrefix(d.(string), "at least 7 connections (at least 13 log lines)") {
		t.Errorf("203.0.113.7: %v; want at least its incident's 6 connections (12 lines) and its line before it", d)
	}
}

// An address folded into its network's incident gets in its X-ARF part the lines of
// it the network kept: its counts are exact only when the network kept all its lines,
// or those it did not keep lie within the times of the address's own incident, which
// counts every line of it (R6: "11 connections (11 log lines)" where the log had 12).
func TestAFoldedAddressCountsWhatItsNetworkKept(t *testing.T) {
	for _, tc := range []struct {
		name     string
		netCount int  // the network's lines: it keeps the 8 below
		spans    bool // the address's own incident spans the network's times
		other    bool // the line not kept is another address's, whose incident holds it
		want     string
	}{
		{"the network kept every line", 8, false, false, "5 connections (5 log lines)"},
		{"the network kept all but one", 9, false, false, "at least 5 connections (at least 5 log lines)"},
		{"all but one, within the address's times", 9, true, false, "5 connections (5 log lines)"},
		{"all but one, another address's", 9, false, true, "5 connections (5 log lines)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &foldLog{t0: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)}
			// 203.0.113.7 at minutes 0, 10, 15, 20 and 30; three others at 1, 2 and 3.
			var netEvs, own []abusewatch.Event
			for _, m := range []float64{0, 10, 15, 20, 30} {
				netEvs = append(netEvs, l.line("203.0.113.7", m, "web1"))
			}
			for i := range 3 {
				netEvs = append(netEvs, l.line(fmt.Sprintf("203.0.113.%d", 20+i), 1+float64(i), "web1"))
			}
			sortEvents(netEvs)
			n := foldIncident("net-7", "network", netip.MustParsePrefix("203.0.113.0/24"), netEvs, 8)
			n.Count, n.Attempts = tc.netCount, tc.netCount
			own = l.ev[1:4] // minutes 10 to 20
			if tc.spans {
				own = l.ev[:5]
			}
			incs := []abusewatch.Incident{n, foldIncident("ip-7", "per-address", netip.MustParsePrefix("203.0.113.7/32"), own, 10)}
			if tc.other {
				// 203.0.113.20 at minute 1 (kept) and 1.5 (not kept).
				evs := []abusewatch.Event{l.ev[5], l.line("203.0.113.20", 1.5, "web1")}
				incs = append(incs, foldIncident("ip-20", "per-address", netip.MustParsePrefix("203.0.113.20/32"), evs, 10))
			}
			r, err := xarfComposer(t).Compose(testContact(), incs, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if d := xarfDescription(t, r.Message, "203.0.113.7"); !strings.HasPrefix(d, tc.want+" ") {
				t.Errorf("203.0.113.7: %q, want it to begin %q", d, tc.want)
			}
		})
	}
}

// xarfPart decodes an X-ARF part and checks it against the schema of its type.
// xarfDescription is the description of the X-ARF part about addr in msg; the test
// fails when there is none.
func xarfDescription(t *testing.T, msg []byte, addr string) string {
	t.Helper()
	_, _, bodies := parts(t, msg)
	for _, b := range bodies[1:] {
		if doc := xarfPart(t, b); doc["source_identifier"] == addr {
			d, _ := doc["description"].(string)
			return d
		}
	}
	t.Fatalf("no X-ARF part for %s", addr)
	return ""
}

func xarfPart(t *testing.T, part []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(part, &doc); err != nil {
		t.Fatal(err)
	}
	schema := map[any]string{"login_attack": "types/connection-login-attack.json", "port_scan": "types/connection-port-scan.json"}[doc["type"]]
	if schema == "" {
		t.Fatalf("X-ARF type %v\n%s", doc["type"], part)
	}
	if errs := validate(t, schema, doc); len(errs) > 0 {
		t.Errorf("does not validate: %s\n%s", errs, part)
	}
	return doc
}

// loginAttack decodes an X-ARF part and checks it against the login_attack schema.
func loginAttack(t *testing.T, part []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(part, &doc); err != nil {
		t.Fatal(err)
	}
	if errs := validate(t, "types/connection-login-attack.json", doc); len(errs) > 0 {
		t.Errorf("does not validate: %s\n%s", errs, part)
	}
	return doc
}

// validate checks doc against the schema file (relative to testdata/xarf) with the
// JSON Schema 2020-12 keywords the X-ARF schemas use; an unknown keyword that would
// constrain the document fails the test rather than being ignored.
func validate(t *testing.T, file string, doc any) []string {
	t.Helper()
	v := &validator{t: t, dir: filepath.Join("testdata", "xarf"), files: map[string]any{}}
	v.check(v.load(file), file, doc, "$")
	return v.errs
}

type validator struct {
	t     *testing.T
	dir   string
	files map[string]any
	errs  []string
}

func (v *validator) load(file string) any {
	if s, ok := v.files[file]; ok {
		return s
	}
	b, err := os.ReadFile(filepath.Join(v.dir, file))
	if err != nil {
		v.t.Fatal(err)
	}
	var s any
	if err := json.Unmarshal(b, &s); err != nil {
		v.t.Fatalf("%s: %v", file, err)
	}
	v.files[file] = s
	return s
}

func (v *validator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, path+": "+fmt.Sprintf(format, args...))
}

// ok reports whether doc satisfies schema without recording errors (for anyOf, if).
func (v *validator) ok(schema any, file string, doc any) bool {
	saved := v.errs
	v.errs = nil
	v.check(schema, file, doc, "")
	good := len(v.errs) == 0
	v.errs = saved
	return good
}

var formats = map[string]func(string) bool{
	"date-time": func(s string) bool { _, err := time.Parse(time.RFC3339, s); return err == nil },
	"uuid":      regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`).MatchString,
	"email":     func(s string) bool { a, err := mail.ParseAddress(s); return err == nil && a.Address == s },
	"ipv4":      func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Is4() },
	"ipv6":      func(s string) bool { a, err := netip.ParseAddr(s); return err == nil && a.Is6() },
}

func (v *validator) check(schema any, file string, doc any, path string) {
	s, ok := schema.(map[string]any)
	if !ok {
		v.t.Fatalf("%s: schema at %s is not an object", file, path)
	}
	for kw, arg := range s {
		switch kw {
		case "$schema", "$id", "title", "description", "examples", "$defs", "contentEncoding":
		case "$ref":
			ref := arg.(string)
			target, frag, _ := strings.Cut(ref, "#")
			f := file
			if target != "" {
				f = filepath.Clean(filepath.Join(filepath.Dir(file), target))
			}
			sub := v.load(f)
			for _, p := range strings.Split(strings.Trim(frag, "/"), "/") {
				if p != "" {
					sub = sub.(map[string]any)[p]
				}
			}
			v.check(sub, f, doc, path)
		case "allOf":
			for _, sub := range arg.([]any) {
				v.check(sub, file, doc, path)
			}
		case "anyOf":
			any1 := false
			for _, sub := range arg.([]any) {
				any1 = any1 || v.ok(sub, file, doc)
			}
			if !any1 {
				v.fail(path, "matches none of anyOf")
			}
		case "if":
			branch := s["else"]
			if v.ok(arg, file, doc) {
				branch = s["then"]
			}
			if branch != nil {
				v.check(branch, file, doc, path)
			}
		case "then", "else":
		case "type":
			if !hasType(doc, arg.(string)) {
				v.fail(path, "%v is not of type %s", doc, arg)
			}
		case "const":
			if doc != nil && doc != arg {
				v.fail(path, "%v is not %v", doc, arg)
			}
		case "enum":
			found := false
			for _, e := range arg.([]any) {
				found = found || e == doc
			}
			if !found {
				v.fail(path, "%v is not one of %v", doc, arg)
			}
		case "required":
			if m, ok := doc.(map[string]any); ok {
				for _, k := range arg.([]any) {
					if _, ok := m[k.(string)]; !ok {
						v.fail(path, "required %q is missing", k)
					}
				}
			}
		case "properties":
			if m, ok := doc.(map[string]any); ok {
				for k, sub := range arg.(map[string]any) {
					if val, ok := m[k]; ok {
						v.check(sub, file, val, path+"."+k)
					}
				}
			}
		case "additionalProperties":
			m, ok := doc.(map[string]any)
			if ok && arg == false {
				props, _ := s["properties"].(map[string]any)
				for k := range m {
					if _, ok := props[k]; !ok {
						v.fail(path, "property %q is not allowed", k)
					}
				}
			}
		case "items":
			if a, ok := doc.([]any); ok {
				for i, e := range a {
					v.check(arg, file, e, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		case "maxItems":
			if a, ok := doc.([]any); ok && float64(len(a)) > arg.(float64) {
				v.fail(path, "%d items, at most %v", len(a), arg)
			}
		case "maxLength":
			if str, ok := doc.(string); ok && float64(len([]rune(str))) > arg.(float64) {
				v.fail(path, "%d characters, at most %v", len([]rune(str)), arg)
			}
		case "pattern":
			if str, ok := doc.(string); ok && !regexp.MustCompile(arg.(string)).MatchString(str) {
				v.fail(path, "%q does not match %s", str, arg)
			}
		case "format":
			f, known := formats[arg.(string)]
			if !known {
				v.t.Fatalf("%s: format %q is not implemented by the test validator", file, arg)
			}
			if str, ok := doc.(string); ok && !f(str) {
				v.fail(path, "%q is not a valid %s", str, arg)
			}
		case "minimum":
			if n, ok := doc.(float64); ok && n < arg.(float64) {
				v.fail(path, "%v is below %v", n, arg)
			}
		case "maximum":
			if n, ok := doc.(float64); ok && n > arg.(float64) {
				v.fail(path, "%v is above %v", n, arg)
			}
		default:
			v.t.Fatalf("%s: keyword %q is not implemented by the test validator", file, kw)
		}
	}
}

func hasType(doc any, typ string) bool {
	switch typ {
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "number":
		_, ok := doc.(float64)
		return ok
	case "integer":
		n, ok := doc.(float64)
		return ok && n == float64(int64(n))
	case "boolean":
		_, ok := doc.(bool)
		return ok
	}
	return false
}

func TestSchemaValidatorCatchesMissingFields(t *testing.T) {
	// The validator must be able to fail, or the tests above prove nothing.
	doc := map[string]any{"xarf_version": "4.0.0", "class": "connection", "type": "login_attack", "source_identifier": "203.0.113.7"}
	errs := validate(t, "types/connection-login-attack.json", doc)
	for _, want := range []string{`"report_id"`, `"reporter"`, `"protocol"`, `"source_port"`} {
		if !strings.Contains(strings.Join(errs, "\n"), want) {
			t.Errorf("no error about %s in %q", want, errs)
		}
	}
}

// A report to a large provider may cover thousands of sources. The memo details the 25
// most serious (with their log lines and X-ARF parts) and lists the others a line
// each, so every source is named and the mail stays small; a template that never names
// .Others gets every source in detail, as before.
func TestAReportOfManySourcesDetailsTheMostSerious(t *testing.T) {
	var incs []abusewatch.Incident
	for i := range 300 {
		inc := testIncident()
		inc.ID, inc.Addr = fmt.Sprintf("inc-%03d", i), netip.AddrFrom4([4]byte{203, 0, 113, byte(i%250 + 1)})
		if i >= 250 {
			inc.Addr = netip.AddrFrom4([4]byte{203, 0, 114, byte(i - 249)})
		}
		inc.First = inc.First.Add(time.Duration(i) * time.Minute)
		inc.Attempts, inc.Severity = 10+i%7, 2
		inc.Evidence = []abusewatch.Event{{Time: inc.First, Port: uint16(40000 + i), Class: abusewatch.ClassAuthFailure,
			Service: "sshd", Line: fmt.Sprintf("sshd[%d]: Failed password for root from %s port %d ssh2", i, inc.Addr, 40000+i)}}
		if i%12 == 5 { // 25 of them: every 12th from the 6th on
			inc.Severity = 3
		}
		incs = append(incs, inc)
	}
	r, err := xarfComposer(t).Compose(testContact(), incs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Incidents) != len(incs) {
		t.Errorf("the report covers %d incidents, want all %d", len(r.Incidents), len(incs))
	}
	_, ps, bodies := parts(t, r.Message)
	memo := string(bodies[0])
	if n := strings.Count(memo, "Source address:"); n != maxDetailed {
		t.Errorf("%d sources in detail, want %d", n, maxDetailed)
	}
	if len(ps)-1 != maxDetailed {
		t.Errorf("%d X-ARF parts, want one per source in detail (%d)", len(ps)-1, maxDetailed)
	}
	for i, inc := range incs {
		detailed := strings.Contains(memo, "Source address:  "+inc.Addr.String()+"\r\n")
		if want := inc.Severity == 3; detailed != want {
			t.Errorf("source %d (%s, severity %d): detailed %v", i, inc.Addr, inc.Severity, detailed)
		}
		if !detailed && !strings.Contains(memo, "\r\n  "+fmt.Sprintf("%-15s", inc.Addr.String())+"  ") {
			t.Errorf("source %s is neither detailed nor listed", inc.Addr)
		}
	}
	if !strings.Contains(memo, "from 275 more source addresses") {
		t.Error("the memo does not say how many more sources it lists")
	}
	if len(r.Message) > 200_000 {
		t.Errorf("a report of 300 sources is %d bytes", len(r.Message))
	}

	// An older template, without .Others: every source in detail.
	old, err := NewComposer("{{range .Incidents}}Source address:  {{.Source}}\n{{end}}", Reporter{Name: "Jane Doe"}, "abuse-reports@example.org")
	if err != nil {
		t.Fatal(err)
	}
	r, err = old.Compose(testContact(), incs, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, text := body(t, r.Message); strings.Count(text, "Source address:") != len(incs) {
		t.Errorf("a template without .Others details %d sources, want all %d", strings.Count(text, "Source address:"), len(incs))
	}
}
