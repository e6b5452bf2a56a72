package daemon

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch"
)

// The commands' JSON writes every name in snake_case. abusewatch.Incident and
// abusewatch.Event have no json tags, and must not get them: the store and the outbox
// keep them as JSON under their Go names. So the incidents and events that the admin
// API and the commands' --json carry go through these output types, both ways (the
// admin API carries them from the daemon to the command).

// incidentJSON is abusewatch.Incident, with its report, as JSON.
type incidentJSON struct {
	ID        string             `json:"id"`
	Key       string             `json:"key"`
	Rule      string             `json:"rule"`
	Addr      netip.Addr         `json:"addr"`    // "" for one about no address (a rate anomaly)
	Network   netip.Prefix       `json:"network"` // "" for one about no network
	Classes   []abusewatch.Class `json:"classes"`
	First     time.Time          `json:"first"`
	Last      time.Time          `json:"last"`
	Count     int                `json:"count"`    // log records
	Attempts  int                `json:"attempts"` // distinct connections among them
	Hosts     []string           `json:"hosts"`
	Evidence  []eventJSON        `json:"evidence"`
	Sources   []netip.Addr       `json:"sources"` // of one about a network: its addresses
	Severity  int                `json:"severity"`
	Success   bool               `json:"success"`
	PTR       string             `json:"ptr,omitempty"`
	AdminOnly bool               `json:"admin_only"`

	IncidentFate
}

// eventJSON is abusewatch.Event as JSON.
type eventJSON struct {
	Seq       uint64           `json:"seq"`
	Time      time.Time        `json:"time"`
	Addr      netip.Addr       `json:"addr"`
	Class     abusewatch.Class `json:"class"`
	Port      uint16           `json:"port"`       // 0: unknown
	LocalPort uint16           `json:"local_port"` // 0: unknown
	Host      string           `json:"host"`
	Service   string           `json:"service"`
	Proto     string           `json:"proto,omitempty"`
	Flags     string           `json:"flags,omitempty"`
	Name      string           `json:"name,omitempty"`
	User      string           `json:"user,omitempty"`
	Source    string           `json:"source"`
	Line      string           `json:"line"`
}

// MarshalJSON writes i in snake_case, its empty lists as [].
func (i IncidentInfo) MarshalJSON() ([]byte, error) {
	inc := i.Incident
	evs := make([]eventJSON, len(inc.Evidence))
	for k, e := range inc.Evidence {
		evs[k] = eventOut(e)
	}
	return json.Marshal(incidentJSON{
		ID: inc.ID, Key: inc.Key, Rule: inc.Rule, Addr: inc.Addr, Network: inc.Network,
		Classes: orEmpty(inc.Classes), First: inc.First, Last: inc.Last, Count: inc.Count, Attempts: inc.Attempts,
		Hosts: orEmpty(inc.Hosts), Evidence: evs, Sources: orEmpty(inc.Sources), Severity: inc.Severity,
		Success: inc.Success, PTR: inc.PTR, AdminOnly: inc.AdminOnly, IncidentFate: i.IncidentFate,
	})
}

// UnmarshalJSON reads what MarshalJSON writes; an empty list is read as none (nil), as
// the incident had it.
func (i *IncidentInfo) UnmarshalJSON(b []byte) error {
	var v incidentJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var evs []abusewatch.Event
	for _, e := range v.Evidence {
		evs = append(evs, e.event())
	}
	*i = IncidentInfo{
		Incident: abusewatch.Incident{
			ID: v.ID, Key: v.Key, Rule: v.Rule, Addr: v.Addr, Network: v.Network,
			Classes: orNil(v.Classes), First: v.First, Last: v.Last, Count: v.Count, Attempts: v.Attempts,
			Hosts: orNil(v.Hosts), Evidence: evs, Sources: orNil(v.Sources), Severity: v.Severity,
			Success: v.Success, PTR: v.PTR, AdminOnly: v.AdminOnly,
		},
		IncidentFate: v.IncidentFate,
	}
	return nil
}

// EventInfo is an event as the commands' JSON writes it (snake_case).
type EventInfo struct {
	abusewatch.Event
}

// MarshalJSON writes e in snake_case.
func (e EventInfo) MarshalJSON() ([]byte, error) { return json.Marshal(eventOut(e.Event)) }

// UnmarshalJSON reads what MarshalJSON writes.
func (e *EventInfo) UnmarshalJSON(b []byte) error {
	var v eventJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	e.Event = v.event()
	return nil
}

func eventOut(e abusewatch.Event) eventJSON {
	return eventJSON{Seq: e.Seq, Time: e.Time, Addr: e.Addr, Class: e.Class, Port: e.Port, LocalPort: e.LocalPort,
		Host: e.Host, Service: e.Service, Proto: e.Proto, Flags: e.Flags, Name: e.Name, User: e.User, Source: e.Source, Line: e.Line}
}

func (v eventJSON) event() abusewatch.Event {
	return abusewatch.Event{Seq: v.Seq, Time: v.Time, Addr: v.Addr, Class: v.Class, Port: v.Port, LocalPort: v.LocalPort,
		Host: v.Host, Service: v.Service, Proto: v.Proto, Flags: v.Flags, Name: v.Name, User: v.User, Source: v.Source, Line: v.Line}
}

// orEmpty is s, or an empty list for none: JSON's [] rather than null, which a script's
// `.sources[]` cannot iterate.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// orNil is s, or nil when it is empty.
func orNil[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
