package mailtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Part is one leaf part of a MIME message: its header, and its body decoded from its
// Content-Transfer-Encoding (quoted-printable or base64).
type Part struct {
	Header textproto.MIMEHeader
	Body   []byte
}

// Parts reads msg and returns its header and its leaf parts in order, walking into
// the multipart ones; a message that is not multipart is one part.
func Parts(msg []byte) (mail.Header, []Part, error) {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	var out []Part
	err = walk(textproto.MIMEHeader(m.Header), m.Body, &out)
	return m.Header, out, err
}

func walk(h textproto.MIMEHeader, body io.Reader, out *[]Part) error {
	ctype := h.Get("Content-Type")
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return fmt.Errorf("Content-Type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walk(p.Header, p, out); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	*out = append(*out, Part{Header: h, Body: b})
	return nil
}
