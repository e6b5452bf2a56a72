package mailer

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Signer signs reports as OpenPGP/MIME (RFC 3156): the report becomes the first part of
// a multipart/signed entity and a detached, ASCII-armoured signature over its exact
// bytes the second. It is the only user of github.com/ProtonMail/go-crypto.
type Signer struct {
	entity      *openpgp.Entity
	keyURL      string
	fingerprint string
}

// LoadSigner reads the first secret key in keyFile (ASCII-armoured or binary, as
// `gpg --export-secret-keys` writes it). The key must not be protected by a passphrase:
// the daemon signs unattended. keyURL is where recipients can fetch the public key; the
// memo and the OpenPGP header name it.
func LoadSigner(keyFile, keyURL string) (*Signer, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("mailer: signing key: %w", err)
	}
	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	if err != nil {
		if keys, err = openpgp.ReadKeyRing(bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("mailer: signing key %s: not an OpenPGP key (%v); export one with gpg --armor --export-secret-keys KEYID", keyFile, err)
		}
	}
	for _, e := range keys {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			return nil, fmt.Errorf("mailer: signing key %s is protected by a passphrase; the daemon signs unattended: give it a key without one (e.g. a dedicated signing subkey)", keyFile)
		}
		return &Signer{entity: e, keyURL: keyURL, fingerprint: strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint))}, nil
	}
	return nil, fmt.Errorf("mailer: signing key %s holds no secret key: export it with gpg --armor --export-secret-keys KEYID", keyFile)
}

// Fingerprint is the signing key's fingerprint in upper-case hex.
func (s *Signer) Fingerprint() string { return s.fingerprint }

// KeyURL is where the public key can be fetched, as configured.
func (s *Signer) KeyURL() string { return s.keyURL }

// header is the value of the OpenPGP header field (draft-josefsson-openpgp-mailnews-header)
// that tells the recipient which key signs our mail and where to get it.
func (s *Signer) header() string {
	v := "id=" + s.fingerprint
	if s.keyURL != "" {
		v += "; url=" + s.keyURL
	}
	return v + "; preference=signencrypt"
}

// sign wraps e in multipart/signed. The signature covers the first part exactly as it
// is written between the boundary lines (RFC 3156 section 5), which every body already
// is in canonical form: transfer-encoded, with CRLF line ends.
func (s *Signer) sign(e entity, bnd string, now time.Time) (entity, error) {
	if bytes.Contains(bytes.ReplaceAll(e.body, []byte("\r\n"), nil), []byte("\n")) {
		return entity{}, errors.New("mailer: signing: the body has a bare LF; it is not in canonical form")
	}
	var body bytes.Buffer
	mw := textproto.NewMultipartWriter(&body)
	if err := mw.SetBoundary(bnd); err != nil {
		return entity{}, err
	}
	w, err := mw.CreatePart(e.header)
	if err != nil {
		return entity{}, err
	}
	start := body.Len() - headerLen(e.header) // where the part's header begins
	if _, err := w.Write(e.body); err != nil {
		return entity{}, err
	}
	signed := bytes.Clone(body.Bytes()[start:])

	var sig bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA256, Time: func() time.Time { return now }}
	if err := openpgp.ArmoredDetachSign(&sig, s.entity, bytes.NewReader(signed), cfg); err != nil {
		return entity{}, fmt.Errorf("mailer: signing: %w", err)
	}
	var sh message.Header
	sh.SetContentType("application/pgp-signature", map[string]string{"name": "signature.asc"})
	sh.Set("Content-Description", "OpenPGP digital signature")
	sh.SetContentDisposition("attachment", map[string]string{"filename": "signature.asc"})
	sw, err := mw.CreatePart(sh.Header)
	if err != nil {
		return entity{}, err
	}
	armoured := bytes.ReplaceAll(bytes.TrimRight(sig.Bytes(), "\n"), []byte("\n"), []byte("\r\n"))
	if _, err := sw.Write(armoured); err != nil {
		return entity{}, err
	}
	if err := mw.Close(); err != nil {
		return entity{}, err
	}
	var h message.Header
	h.SetContentType("multipart/signed", map[string]string{
		"boundary": bnd, "micalg": "pgp-sha256", "protocol": "application/pgp-signature",
	})
	return entity{header: h.Header, body: body.Bytes()}, nil
}

// headerLen is how many bytes textproto.WriteHeader writes for h.
func headerLen(h textproto.Header) int {
	var b bytes.Buffer
	textproto.WriteHeader(&b, h)
	return b.Len()
}
