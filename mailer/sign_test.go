package mailer

import (
	"bytes"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/abusewatch/abusewatch"
)

// testKey writes a fresh secret key without a passphrase and returns its path and the
// public key ring to verify with.
func testKey(t testing.TB) (string, openpgp.EntityList) {
	t.Helper()
	e, err := openpgp.NewEntity("Jane Doe", "abusewatch test", "jane@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "signing.asc")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := armor.Encode(f, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	return path, openpgp.EntityList{e}
}

// signedParts splits a multipart/signed message into the exact bytes of its first part
// (what RFC 3156 signs) and the armoured signature.
func signedParts(t *testing.T, msg []byte) (mail.Header, []byte, []byte) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/signed" {
		t.Fatalf("Content-Type %q, want multipart/signed", m.Header.Get("Content-Type"))
	}
	if params["protocol"] != "application/pgp-signature" || params["micalg"] != "pgp-sha256" {
		t.Errorf("Content-Type parameters %v", params)
	}
	var body bytes.Buffer
	body.ReadFrom(m.Body)
	delim := []byte("--" + params["boundary"])
	chunks := bytes.Split(body.Bytes(), delim)
	// "", part 1, part 2, "--\r\n"
	if len(chunks) != 4 {
		t.Fatalf("%d chunks between boundaries, want 2 parts", len(chunks)-2)
	}
	first := bytes.TrimSuffix(bytes.TrimPrefix(chunks[1], []byte("\r\n")), []byte("\r\n"))
	second := bytes.TrimSuffix(bytes.TrimPrefix(chunks[2], []byte("\r\n")), []byte("\r\n"))
	_, sig, _ := bytes.Cut(second, []byte("\r\n\r\n"))
	return m.Header, first, sig
}

func TestSignedReportVerifies(t *testing.T) {
	path, ring := testKey(t)
	s, err := LoadSigner(path, "https://example.org/abuse.asc")
	if err != nil {
		t.Fatal(err)
	}
	inc := testIncident()
	inc.Evidence[0].Port = 4242
	r, err := testComposer(t).With(Options{XARF: true, Signer: s}).Compose(testContact(), []abusewatch.Incident{inc}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, signed, sig := signedParts(t, r.Message)
	if _, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(signed), bytes.NewReader(sig), nil); err != nil {
		t.Fatalf("signature does not verify: %v\nsigned part:\n%s", err, signed)
	}
	if !bytes.HasPrefix(signed, []byte("Content-Type: multipart/mixed")) {
		t.Errorf("the signed part is not the memo with its X-ARF part:\n%.200s", signed)
	}
	if got := h.Get("OpenPGP"); !strings.Contains(got, "id="+s.Fingerprint()) || !strings.Contains(got, "url=https://example.org/abuse.asc") {
		t.Errorf("OpenPGP header %q, want the key's fingerprint and location", got)
	}
	// The memo names the key and where to get it.
	if !bytes.Contains(signed, []byte("https://example.org/abuse.asc")) {
		t.Error("the memo does not say where the key is")
	}

	// A changed byte in the signed part no longer verifies: the check above is real.
	tampered := bytes.Replace(signed, []byte("203.0.113.7"), []byte("203.0.113.8"), 1)
	if _, err := openpgp.CheckArmoredDetachedSignature(ring, bytes.NewReader(tampered), bytes.NewReader(sig), nil); err == nil {
		t.Error("a tampered part verifies")
	}
}

func TestSigningKeyWithPassphraseIsRefused(t *testing.T) {
	e, err := openpgp.NewEntity("Jane Doe", "", "jane@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.EncryptPrivateKeys([]byte("secret"), nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "locked.asc")
	f, _ := os.Create(path)
	w, _ := armor.Encode(f, openpgp.PrivateKeyType, nil)
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	if _, err := LoadSigner(path, ""); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Errorf("err = %v, want a refusal naming the passphrase", err)
	}
	if _, err := LoadSigner(filepath.Join(t.TempDir(), "missing.asc"), ""); err == nil {
		t.Error("a missing key file loads")
	}
}
