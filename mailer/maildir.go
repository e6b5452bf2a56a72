package mailer

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch"
	"github.com/abusewatch/abusewatch/ownership"
)

// Maildir writes each message into a maildir, creating tmp/, new/ and cur/ as needed:
// the message is written and synced in tmp/, then renamed into new/, so a reader never
// sees half a message. It is the transport for sites that must not send anything, and
// for reading reports before they go out.
type Maildir struct {
	Dir string
}

// Deliver writes r.Message, dated now (Dated), and returns the path of the file in new/. Its errors are
// local I/O problems: a full disk or quota is temporary (retried, as a relay that is
// down), anything else (a missing permission) permanent: it needs a person.
func (m Maildir) Deliver(ctx context.Context, r abusewatch.Report) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if m.Dir == "" {
		return "", permanent(errors.New("mailer: maildir: no directory configured"))
	}
	if len(r.Message) == 0 {
		return "", permanent(errors.New("mailer: maildir: the report has no message"))
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		// A `sudo abusewatch scan` delivers into the service's maildir: what it
		// makes there is the service's (package ownership), or the daemon could not.
		if err := ownership.MakeDir(filepath.Join(m.Dir, sub), 0o700); err != nil {
			return "", localError(err)
		}
	}
	now := time.Now()
	name := uniqueName(now)
	tmp := filepath.Join(m.Dir, "tmp", name)
	if err := writeSynced(tmp, Dated(r.Message, now)); err != nil {
		os.Remove(tmp)
		return "", localError(err)
	}
	dst := filepath.Join(m.Dir, "new", name)
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return "", localError(err)
	}
	// Make the rename itself durable before we say the report was delivered.
	if d, err := os.Open(filepath.Join(m.Dir, "new")); err == nil {
		d.Sync()
		d.Close()
	}
	return dst, nil
}

// Delivered says whether the message of r is in the maildir (new/ or cur/, where a
// reader moves it), and where: after a crash while delivering, the outbox knows from it
// whether a report found `sending` went (a file with its Message-ID) or not (none: a
// delivery cut short leaves at most a file in tmp/, removed once 36 hours old, as
// maildir readers do). Only the headers of each file are read.
func (m Maildir) Delivered(r abusewatch.Report) (loc string, ok bool, err error) {
	if r.MessageID == "" {
		return "", false, errors.New("mailer: maildir: the report has no Message-ID to look for")
	}
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(m.Dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("mailer: maildir: %w", err)
		}
		for _, e := range entries {
			path := filepath.Join(m.Dir, sub, e.Name())
			f, err := os.Open(path)
			if err != nil {
				continue // moved or deleted by a reader meanwhile
			}
			msg, err := mail.ReadMessage(bufio.NewReader(io.LimitReader(f, 64<<10)))
			f.Close()
			if err == nil && strings.TrimSpace(msg.Header.Get("Message-Id")) == r.MessageID {
				return path, true, nil
			}
		}
	}
	m.cleanTmp(time.Now())
	return "", false, nil
}

// cleanTmp removes the files in tmp/ not touched for 36 hours, as maildir readers do:
// what a delivery cut short left there. The maildir may be shared with other writers,
// whose files of the moment stay.
func (m Maildir) cleanTmp(now time.Time) {
	entries, err := os.ReadDir(filepath.Join(m.Dir, "tmp"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && now.Sub(fi.ModTime()) > 36*time.Hour {
			os.Remove(filepath.Join(m.Dir, "tmp", e.Name()))
		}
	}
}

// localError is a failure to write into the maildir: temporary when the disk or the
// quota is full (space freed, the retry delivers; failed for good, the report stayed
// failed after the admin made room), permanent otherwise (a missing permission needs
// a person).
func localError(err error) error {
	err = fmt.Errorf("mailer: maildir: %w", err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &deliveryError{err: err, temporary: true}
	}
	return permanent(err)
}

// uniqueName follows the maildir convention "time.unique.host". The unique part is
// random rather than a counter, so that it needs no shared state; the host name is
// reduced to characters that are safe in a file name and mean nothing to maildir readers.
func uniqueName(now time.Time) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, host)
	return strconv.FormatInt(now.Unix(), 10) + ".M" + strconv.Itoa(now.Nanosecond()/1000) +
		"P" + strconv.Itoa(os.Getpid()) + "R" + rand.Text() + "." + host
}

// writeSynced creates path, failing if it exists, and writes b to stable storage.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := ownership.AsDirectory(f, filepath.Dir(path)); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
