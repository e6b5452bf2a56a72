package lookuptest

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// RDAP is an RDAP server on loopback. It answers /ip/ADDR (under any path prefix, as
// registries serve under /registry/ or /rdap/) with the answer of the most specific network
// holding ADDR, 404 for an address in none. It counts requests, and Storm makes it answer
// 429 for a while, to test that a client rides that out.
type RDAP struct {
	URL      string       // the base URL to give a client or a bootstrap file, without a trailing slash
	Requests atomic.Int64 // every request received, 429s included

	t          testing.TB
	mu         sync.Mutex
	answers    map[netip.Prefix][]byte
	storm      int    // refusals still to give
	stormCode  int    // their status: 429 or 503
	retryAfter string // their Retry-After header
	hits       []Hit
}

// Hit is one request the RDAP server got.
type Hit struct {
	Time   time.Time // when it arrived
	Path   string
	Status int // what it was answered
}

// NewRDAP starts an RDAP server that runs until the test ends.
func NewRDAP(t testing.TB) *RDAP {
	t.Helper()
	r := &RDAP{t: t, answers: map[netip.Prefix][]byte{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Answer serves body for every address in network (CIDR).
func (r *RDAP) Answer(network string, body []byte) {
	r.t.Helper()
	p, err := netip.ParsePrefix(network)
	if err != nil {
		r.t.Fatalf("lookuptest: %v", err)
	}
	r.mu.Lock()
	r.answers[p.Masked()] = body
	r.mu.Unlock()
}

// AnswerFile serves the file at path (a real registry answer) for every address in network.
func (r *RDAP) AnswerFile(network, path string) {
	r.t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatalf("lookuptest: %v", err)
	}
	r.Answer(network, body)
}

// Storm makes the next n requests get 429 Too Many Requests with this Retry-After
// header ("" for none).
func (r *RDAP) Storm(n int, retryAfter string) {
	r.StormWith(n, http.StatusTooManyRequests, retryAfter)
}

// StormWith is Storm with another status, e.g. 503 Service Unavailable.
func (r *RDAP) StormWith(n, status int, retryAfter string) {
	r.mu.Lock()
	r.storm, r.stormCode, r.retryAfter = n, status, retryAfter
	r.mu.Unlock()
}

// Hits returns every request so far, in order of arrival.
func (r *RDAP) Hits() []Hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Hit(nil), r.hits...)
}

// ServeHTTP answers one request.
func (r *RDAP) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.Requests.Add(1)
	r.mu.Lock()
	hit := Hit{Time: time.Now(), Path: req.URL.Path}
	status, body := r.answer(req.URL.Path)
	if status == r.stormCode && r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	hit.Status = status
	r.hits = append(r.hits, hit)
	r.mu.Unlock()

	switch status {
	case http.StatusOK:
		w.Header().Set("Content-Type", "application/rdap+json")
		w.Write(body)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		http.Error(w, http.StatusText(status), status)
	default:
		w.Header().Set("Content-Type", "application/rdap+json")
		w.WriteHeader(status)
		w.Write([]byte(`{"errorCode":404,"title":"Not Found","description":["no network holds this address"]}`))
	}
}

// answer finds what to answer for path; r.mu is held.
func (r *RDAP) answer(path string) (int, []byte) {
	if r.storm > 0 {
		r.storm--
		return r.stormCode, nil
	}
	_, q, ok := strings.Cut(path, "/ip/")
	if !ok {
		return http.StatusNotFound, nil
	}
	var addr netip.Addr
	if p, err := netip.ParsePrefix(q); err == nil {
		addr = p.Addr()
	} else if a, err := netip.ParseAddr(q); err == nil {
		addr = a
	} else {
		return http.StatusBadRequest, nil
	}
	best, found := netip.Prefix{}, false
	for p := range r.answers {
		if p.Contains(addr.Unmap()) && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	if !found {
		return http.StatusNotFound, nil
	}
	return http.StatusOK, r.answers[best]
}

// NetworkAnswer writes a minimal RFC 9083 ip network answer for p with one abuse entity
// whose vCard has the address abuse, and the country (may be empty).
func NetworkAnswer(p netip.Prefix, name, country, abuse string) []byte {
	p = p.Masked()
	last := p.Addr().AsSlice()
	for i := p.Bits(); i < len(last)*8; i++ {
		last[i/8] |= 0x80 >> (i % 8)
	}
	end, _ := netip.AddrFromSlice(last)
	version := "v6"
	if p.Addr().Is4() {
		version = "v4"
	}
	doc := map[string]any{
		"rdapConformance": []string{"rdap_level_0"},
		"objectClassName": "ip network",
		"handle":          cmp.Or(name, p.String()),
		"name":            cmp.Or(name, p.String()),
		"startAddress":    p.Addr().String(),
		"endAddress":      end.String(),
		"ipVersion":       version,
		"country":         country,
		"entities": []any{map[string]any{
			"objectClassName": "entity",
			"handle":          "ABUSE-" + cmp.Or(name, "NET"),
			"roles":           []string{"abuse"},
			"vcardArray": []any{"vcard", []any{
				[]any{"version", map[string]any{}, "text", "4.0"},
				[]any{"fn", map[string]any{}, "text", "Abuse desk"},
				[]any{"email", map[string]any{}, "text", abuse},
			}},
		}},
	}
	b, _ := json.Marshal(doc)
	return b
}

// WithRelatedLink returns the RDAP answer body with a "related" link to href added, as a
// regional registry links to the national registry (or another server) that holds more.
func WithRelatedLink(t testing.TB, body []byte, href string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("lookuptest: %v", err)
	}
	links, _ := doc["links"].([]any)
	doc["links"] = append(links, map[string]any{"value": href, "rel": "related", "href": href, "type": "application/rdap+json"})
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("lookuptest: %v", err)
	}
	return out
}
