// Package mailtest runs a real SMTP server (go-smtp's server side) on loopback for tests
// of anything that sends mail: it records each accepted message and can be told to
// require STARTTLS, implicit TLS or AUTH PLAIN, or to refuse recipients or messages.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is what the test server saw in one mail transaction.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	Data []byte   // the message as received
	TLS  bool     // the transaction ran over TLS
	User string   // the AUTH PLAIN user, if any
}

// Server is a real go-smtp server on loopback whose behaviour each test sets.
type Server struct {
	Addr string
	Cert *x509.Certificate // the self-signed certificate, when TLS is on
	got  chan Message

	user, pass string // AUTH PLAIN required when user != ""
	rcptErr    func(string) error
	dataErr    error
}

// Options set how the server behaves.
type Options struct {
	StartTLS, ImplicitTLS bool                  // offer STARTTLS, or speak TLS from the start
	User, Pass            string                // require AUTH PLAIN with these credentials
	RcptErr               func(to string) error // refuse a recipient with the returned error
	DataErr               error                 // refuse every message with this error
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ts := &Server{got: make(chan Message, 10), user: o.User, pass: o.Pass, rcptErr: o.RcptErr, dataErr: o.DataErr}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{server: ts, tls: isTLS, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.StartTLS || o.ImplicitTLS {
		cfg, cert := SelfSigned(t)
		ts.Cert = cert
		srv.TLSConfig = cfg
		if o.ImplicitTLS {
			l = tls.NewListener(l, cfg)
		}
	}
	ts.Addr = l.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})
	return ts
}

// Next waits for the next message the server accepted.
func (ts *Server) Next(t testing.TB) Message {
	t.Helper()
	select {
	case m := <-ts.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("the server received no message")
		return Message{}
	}
}

// Nothing checks that the server accepted no message. Deliver has returned by the time
// it is called, and the server hands a message over before it replies to it.
func (ts *Server) Nothing(t testing.TB) {
	t.Helper()
	select {
	case m := <-ts.got:
		t.Errorf("the server received a message: %+v", m)
	default:
	}
}

type session struct {
	server *Server
	conn   *smtp.Conn
	tls    bool
	user   string
	cur    Message
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if s.server.user == "" || username != s.server.user || password != s.server.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, s.tls = s.conn.TLSConnectionState() // after STARTTLS the session goes on over TLS
	s.cur = Message{From: from, TLS: s.tls, User: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.server.rcptErr != nil {
		if err := s.server.rcptErr(to); err != nil {
			return err
		}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.server.dataErr != nil {
		return s.server.dataErr
	}
	s.cur.Data = b
	s.server.got <- s.cur
	return nil
}

func (s *session) Reset()        { s.cur = Message{} }
func (s *session) Logout() error { return nil }

// SelfSigned makes a certificate for 127.0.0.1 that only the test trusts.
func SelfSigned(t testing.TB) (*tls.Config, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, cert
}

// Trusting is a client TLS config that trusts cert only.
func Trusting(cert *x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool}
}
