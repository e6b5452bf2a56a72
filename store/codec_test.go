package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch"
)

func TestEventCodecRoundTrips(t *testing.T) {
	for _, e := range []abusewatch.Event{
		{Seq: 1, Time: time.Date(2026, 11, 20, 3, 0, 0, 123456789, time.UTC), Class: "auth-failure",
			Addr: netip.MustParseAddr("45.134.26.17"), Port: 40000, User: "root\x00\r\n", Service: "sshd", Host: "web1",
			Source: "/var/log/auth.log", Line: "Failed password for root from 45.134.26.17 port 40000 ssh2 ☃"},
		{Seq: 1 << 40, Time: time.Date(2026, 2, 1, 0, 0, 0, 0, time.FixedZone("", -5*3600)), Class: "port-probe",
			Addr: netip.MustParseAddr("2001:db8::7"), LocalPort: 23, Proto: "TCP", Flags: "SYN", Line: "x"},
		{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Class: "refused-connect", Name: "scanner.example"},
	} {
		got, err := decodeEvent(encodeEvent(nil, &e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %+v gave %+v, %v", e, got, err)
		}
		// Skipping an event ends where decoding it does.
		two := encodeEvent(encodeEvent(nil, &e), &e)
		_, decoded, _ := decodeEventPrefix(two)
		if skipped, err := skipEvent(two); err != nil || len(skipped) != len(decoded) {
			t.Errorf("skipEvent left %d bytes, %v; decoding leaves %d", len(skipped), err, len(decoded))
		}
		// Events stored as JSON by the first versions still decode.
		legacy, _ := json.Marshal(e)
		if got, err := decodeEvent(legacy); err != nil || !got.Time.Equal(e.Time) || got.Addr != e.Addr || got.Line != e.Line {
			t.Errorf("legacy JSON of %+v gave %+v, %v", e, got, err)
		}
	}
}

func TestEventCodecRefusesCorruptData(t *testing.T) {
	good := encodeEvent(nil, &abusewatch.Event{Time: time.Now(), Class: "auth-failure", Addr: netip.MustParseAddr("45.134.26.17"), Line: "x"})
	for _, bad := range [][]byte{nil, {0x7f}, good[:len(good)-1], good[:5], append([]byte{1, 1, 2, 0, 9}, good[5:]...)} {
		if _, err := decodeEvent(bad); err == nil {
			t.Errorf("decodeEvent(%x) accepted corrupt data", bad)
		}
		if _, err := skipEvent(bad); err == nil {
			t.Errorf("skipEvent(%x) accepted corrupt data", bad)
		}
	}
}

// BenchmarkDecodeEvent compares the stored form with the JSON it replaced.
func BenchmarkDecodeEvent(b *testing.B) {
	e := abusewatch.Event{Seq: 99, Time: time.Now(), Class: "auth-failure", Addr: netip.MustParseAddr("45.134.26.17"), Port: 40000,
		User: "root", Service: "sshd", Host: "web1", Source: "/var/log/auth.log",
		Line: "2026-11-20T03:00:00.000000+00:00 web1 sshd[7]: Failed password for root from 45.134.26.17 port 40000 ssh2"}
	bin := encodeEvent(nil, &e)
	js, _ := json.Marshal(e)
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			decodeEvent(bin)
		}
		b.ReportMetric(float64(len(bin)), "stored-bytes")
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			decodeEvent(js)
		}
		b.ReportMetric(float64(len(js)), "stored-bytes")
	})
}

// Events logged with a UTC offset decode into the same instant and offset, with the
// zone of an offset made once (and a bounded number of them kept).
func TestDecodedZonesAreShared(t *testing.T) {
	at := time.Date(2026, 2, 1, 3, 4, 5, 6, time.FixedZone("", 2*3600))
	e := abusewatch.Event{Time: at, Class: "auth-failure", Line: "x"}
	a, err := decodeEvent(encodeEvent(nil, &e))
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeEvent(encodeEvent(nil, &e))
	if err != nil {
		t.Fatal(err)
	}
	if _, off := a.Time.Zone(); !a.Time.Equal(at) || off != 2*3600 {
		t.Errorf("decoded %v, want %v", a.Time, at)
	}
	if a.Time.Location() != b.Time.Location() {
		t.Error("two events of one offset decode with two zones")
	}
	for off := range 2 * maxFixedZones {
		if _, o := time.Unix(0, 0).In(fixedZone(int64(off * 60))).Zone(); o != off*60 {
			t.Fatalf("zone of offset %d says %d", off*60, o)
		}
	}
	if n := fixedZonesN.Load(); n < maxFixedZones {
		t.Errorf("%d zones made, want at least %d", n, maxFixedZones)
	}
	kept := 0
	fixedZones.Range(func(any, any) bool { kept++; return true })
	if kept > maxFixedZones {
		t.Errorf("%d zones kept, want at most %d", kept, maxFixedZones)
	}
}

// appendSized writes what a length and a copy write, for lengths of 1, 2 and 3 bytes.
func TestAppendSizedIsALengthAndACopy(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		prefix := []byte("incident")
		want := append(binary.AppendUvarint(slices.Clone(prefix), uint64(n)), data...)
		got := appendSized(slices.Clone(prefix), func(b []byte) []byte { return append(b, data...) })
		if !bytes.Equal(got, want) {
			t.Errorf("%d bytes: appendSized gave %d bytes, not the %d of a length and a copy", n, len(got), len(want))
		}
	}
}
