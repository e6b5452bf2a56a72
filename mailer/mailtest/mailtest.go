// Package mailtest runs a real SMTP server (go-smtp's server side) on loopback for tests
// of anything that sends mail: it records each accepted message and can be told to
// require STARTTLS, implicit TLS or AUTH (PLAIN or LOGIN), to refuse recipients or
// messages, to answer a script of replies (451, then 250), or to hold a message at the
// end of DATA until the test releases it (to kill the sender mid-delivery).
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
	"sync"
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
	User string   // the AUTH user, if any
	Helo string   // the name the client greeted with (last EHLO, i.e. after STARTTLS)
}

// Server is a real go-smtp server on loopback whose behaviour each test sets.
type Server struct {
	Addr string
	Cert *x509.Certificate // the self-signed certificate, when TLS is on
	got  chan Message

	user, pass string // AUTH required when user != ""
	mechs      []string
	rcptErr    func(string) error
	dataErr    error

	mu       sync.Mutex
	replies  []error // what the next DATA commands answer, in order; then dataErr
	data     int     // DATA commands seen
	holding  chan struct{}
	release  chan struct{}
	released bool
}

// Options set how the server behaves.
type Options struct {
	StartTLS, ImplicitTLS bool                  // offer STARTTLS, or speak TLS from the start
	User, Pass            string                // require AUTH with these credentials
	AuthMechs             []string              // the mechanisms offered: PLAIN and/or LOGIN; default PLAIN
	AllowInsecureAuth     bool                  // offer AUTH without TLS too (to test that the client refuses)
	RcptErr               func(to string) error // refuse a recipient with the returned error
	DataErr               error                 // refuse every message with this error
	// Replies answer the first DATA commands in order (nil accepts), e.g.
	// {451 error, nil}: a temporary refusal, then acceptance. Later ones get DataErr.
	Replies []error
	// Hold keeps each message at the end of DATA, unanswered, until Release or the
	// end of the test; Holding tells when one arrives.
	Hold bool
	// Addr is where to listen, e.g. a port the test reserved to start the server
	// later ("down, then up"); default a free port on 127.0.0.1.
	Addr string
}

// Start runs a server on 127.0.0.1 until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	ts := &Server{got: make(chan Message, 10), user: o.User, pass: o.Pass, mechs: o.AuthMechs, rcptErr: o.RcptErr,
		dataErr: o.DataErr, replies: o.Replies, holding: make(chan struct{}, 10), release: make(chan struct{})}
	if len(ts.mechs) == 0 {
		ts.mechs = []string{sasl.Plain}
	}
	if !o.Hold {
		ts.Release()
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{server: ts, tls: isTLS, conn: c}, nil
	}))
	srv.Domain = "mx.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = o.AllowInsecureAuth
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
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
		ts.Release()
		srv.Close()
		<-served
	})
	return ts
}

// FreeAddr reserves a loopback address and frees it again: nothing listens there until
// a server is started with Options.Addr, so a client meets a refused connection.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Holding waits until a message is held at the end of DATA (Options.Hold).
func (ts *Server) Holding(t testing.TB) {
	t.Helper()
	select {
	case <-ts.holding:
	case <-time.After(30 * time.Second):
		t.Fatal("no message was held within 30s")
	}
}

// Transactions is how many messages the server has received to the end of DATA, accepted
// or not.
func (ts *Server) Transactions() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.data
}

// Release lets held messages (and all later ones) through.
func (ts *Server) Release() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.released {
		ts.released = true
		close(ts.release)
	}
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
		t.Errorf("the server received a message from %s to %v:\n%.600s", m.From, m.To, m.Data)
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

func (s *session) AuthMechanisms() []string { return s.server.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if s.server.user == "" || username != s.server.user || password != s.server.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	if mech == sasl.Login {
		return &loginServer{check: check}, nil
	}
	return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login), which
// go-sasl implements only for clients: ask for the user name, then the password.
type loginServer struct {
	check    func(username, password string) error
	username string
	step     int
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if response != nil { // an initial response is the user name
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.username, string(response))
	}
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, s.tls = s.conn.TLSConnectionState() // after STARTTLS the session goes on over TLS
	s.cur = Message{From: from, TLS: s.tls, User: s.user, Helo: s.conn.Hostname()}
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
	ts := s.server
	ts.mu.Lock()
	n := ts.data
	ts.data++
	ts.mu.Unlock()
	select {
	case ts.holding <- struct{}{}:
	default: // nobody is waiting for held messages
	}
	<-ts.release
	switch {
	case n < len(ts.replies):
		if ts.replies[n] != nil {
			return ts.replies[n]
		}
	case ts.dataErr != nil:
		return ts.dataErr
	}
	s.cur.Data = b
	ts.got <- s.cur
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

// Reply is an SMTP reply for Options (RcptErr, DataErr, Replies), e.g. Reply(451, "try
// again later"), so tests elsewhere need not import go-smtp. enhanced is the optional
// enhanced status code, e.g. 5, 7, 1.
func Reply(code int, msg string, enhanced ...int) error {
	e := &smtp.SMTPError{Code: code, Message: msg}
	if len(enhanced) == 3 {
		e.EnhancedCode = smtp.EnhancedCode{enhanced[0], enhanced[1], enhanced[2]}
	}
	return e
}
