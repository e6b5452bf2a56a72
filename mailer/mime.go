package mailer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// entity is one MIME entity as go-message wrote it: its Content-* header fields and its
// body, already transfer-encoded with CRLF line ends. Keeping the two apart lets a
// multipart/signed wrapper sign exactly the bytes that go on the wire, and lets the
// message headers (From, To, …) join the outermost entity's fields.
type entity struct {
	header textproto.Header
	body   []byte
}

// newEntity writes one leaf entity with go-message, which encodes the body as the
// header's Content-Transfer-Encoding says.
func newEntity(h message.Header, write func(io.Writer) error) (entity, error) {
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h)
	if err != nil {
		return entity{}, err
	}
	if err := write(w); err != nil {
		return entity{}, err
	}
	if err := w.Close(); err != nil {
		return entity{}, err
	}
	return splitEntity(buf.Bytes())
}

// splitEntity reads a written entity back into its header and its raw body.
func splitEntity(b []byte) (entity, error) {
	br := bufio.NewReader(bytes.NewReader(b))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return entity{}, err
	}
	h.Del("Mime-Version") // only the message as a whole carries it
	body, err := io.ReadAll(br)
	if err != nil {
		return entity{}, err
	}
	return entity{header: h, body: body}, nil
}

// textEntity is a text/plain (or text/html) UTF-8 body, quoted-printable, so that long
// lines and non-ASCII text survive any relay.
func textEntity(mediaType string, text []byte) (entity, error) {
	var h message.Header
	h.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return newEntity(h, func(w io.Writer) error {
		_, err := w.Write(text)
		return err
	})
}

// multipartEntity joins parts under mediaType (multipart/mixed, /alternative, /related)
// with boundary; params are more Content-Type parameters (e.g. type for related).
func multipartEntity(mediaType, boundary string, params map[string]string, parts []entity) (entity, error) {
	var body bytes.Buffer
	mw := textproto.NewMultipartWriter(&body)
	if err := mw.SetBoundary(boundary); err != nil {
		return entity{}, err
	}
	for _, p := range parts {
		w, err := mw.CreatePart(p.header)
		if err != nil {
			return entity{}, err
		}
		if _, err := w.Write(p.body); err != nil {
			return entity{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return entity{}, err
	}
	var h message.Header
	ps := map[string]string{"boundary": boundary}
	for k, v := range params {
		ps[k] = v
	}
	h.SetContentType(mediaType, ps)
	return entity{header: h.Header, body: body.Bytes()}, nil
}

// boundary is a deterministic multipart boundary for the message id, so the same report
// composed twice is the same bytes. A boundary cannot occur in the content: every body
// is quoted-printable or base64, whose lines never start with "--=_".
func boundary(kind, id string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + id))
	return "=_" + kind + "_" + hex.EncodeToString(sum[:12])
}

// writeMessage writes the message: the top-level fields (From, To, Subject, …) merged
// with the outermost entity's Content-* fields, then its body.
func writeMessage(top gomail.Header, e entity) ([]byte, error) {
	h := gomail.Header{Header: message.Header{Header: top.Header.Header.Copy()}}
	h.Set("MIME-Version", "1.0")
	for f := e.header.Fields(); f.Next(); {
		h.Add(f.Key(), f.Value())
	}
	var msg bytes.Buffer
	if err := textproto.WriteHeader(&msg, h.Header.Header); err != nil {
		return nil, fmt.Errorf("mailer: writing the message header: %w", err)
	}
	msg.Write(e.body)
	return msg.Bytes(), nil
}

// Dated is msg with its Date field set to now, in the zone of the Date it has (the
// reporter's, as the Composer wrote it), for the transports to stamp a message when it
// is sent: a report waits for approval, a cooldown or a retry, and its Date would
// otherwise be when it was written. Only the message's own header changes: an OpenPGP
// signature covers the signed part below it, which keeps it valid, and the new value is
// made from the clock alone. A message without a Date field (or with one that does not
// parse) is returned unchanged.
func Dated(msg []byte, now time.Time) []byte {
	end := bytes.Index(msg, []byte("\r\n\r\n"))
	if end < 0 {
		return msg
	}
	for start := 0; start < end; {
		eol := start + bytes.Index(msg[start:], []byte("\r\n"))
		line := msg[start:eol]
		// One line: the Composer never folds the Date field.
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(name), "Date") &&
			(eol+2 >= len(msg) || (msg[eol+2] != ' ' && msg[eol+2] != '\t')) {
			was, err := mail.ParseDate(strings.TrimSpace(string(value)))
			if err != nil {
				return msg
			}
			_, offset := was.Zone()
			stamped := "Date: " + now.In(time.FixedZone("", offset)).Format(time.RFC1123Z)
			out := make([]byte, 0, len(msg)+len(stamped)-len(line))
			out = append(out, msg[:start]...)
			out = append(out, stamped...)
			return append(out, msg[eol:]...)
		}
		start = eol + 2
	}
	return msg
}
