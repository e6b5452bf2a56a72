package daemon

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

// An incident's JSON is snake_case and reads back as it was written: the admin API
// carries it from the daemon to the commands. Every field of abusewatch.Incident and
// abusewatch.Event is set here, so a field added to them and forgotten here fails.
func TestIncidentInfoJSONIsSnakeCaseBothWays(t *testing.T) {
	at := time.Date(2026, 11, 20, 3, 12, 0, 0, time.UTC)
	ev := abusewatch.Event{Seq: 7, Time: at, Addr: netip.MustParseAddr("45.134.26.17"), Class: abusewatch.ClassAuthFailure,
		Port: 40000, LocalPort: 22, Host: "web1", Service: "sshd", Proto: "TCP", Flags: "SYN", Name: "x.example", User: "root",
		Source: "/var/log/auth.log", Line: "Failed password for root"}
	in := IncidentInfo{
		Incident: abusewatch.Incident{ID: "b496c5fde1fb8af1", Key: "ip:45.134.26.17", Rule: "per-address",
			Addr: ev.Addr, Network: netip.MustParsePrefix("45.134.26.0/24"), Classes: []abusewatch.Class{ev.Class},
			First: at, Last: at.Add(time.Minute), Count: 6, Attempts: 6, Hosts: []string{"web1"}, Evidence: []abusewatch.Event{ev},
			Sources: []netip.Addr{ev.Addr}, Severity: 3, Success: true, PTR: "x.example", AdminOnly: true},
		IncidentFate: IncidentFate{ReportID: "0b4af751", ReportState: abusewatch.ReportSent, ReportTo: []string{"abuse@hostco.example"},
			Location: "250 ok", Unreported: "why", UnreportedCode: "no-contact",
			Shares: []ReportShare{{ID: "7c1d", State: abusewatch.ReportPendingApproval, To: []string{"abuse@customer.example"}, Location: "maildir/new/x"}}},
	}
	for _, v := range []any{in.Incident, ev, in.IncidentFate} {
		rv := reflect.ValueOf(v)
		for i := range rv.NumField() {
			if rv.Field(i).IsZero() {
				t.Fatalf("%T.%s is not set in this test: set it, and check that the JSON carries it", v, rv.Type().Field(i).Name)
			}
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out IncidentInfo
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read back:\n%+v\nwant\n%+v", out, in)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) {
					t.Errorf("key %q is not snake_case in %s", k, b)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var generic any
	json.Unmarshal(b, &generic)
	walk(generic)

	// Empty lists are [], never null; they read back as none.
	b, _ = json.Marshal(IncidentInfo{Incident: abusewatch.Incident{ID: "x"}})
	for _, k := range []string{"classes", "hosts", "evidence", "sources"} {
		if !strings.Contains(string(b), `"`+k+`":[]`) {
			t.Errorf("%s is not [] in %s", k, b)
		}
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Sources != nil || out.Evidence != nil {
		t.Errorf("an incident without sources read back as %+v, %v", out, err)
	}
}
