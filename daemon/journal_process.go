package daemon

import (
	"path"
	"strconv"
	"strings"
)

// A configured unit is a cgroup, not a program: besides the service it runs whatever the
// service starts for others. postfix's local(8) runs a user's ~/.forward pipe as that
// user in postfix@-.service, PostgreSQL's COPY … TO PROGRAM runs a command as postgres in
// its unit, cron runs users' jobs in cron.service, dovecot runs sieve's programs. Any of
// them may write `logger -t sshd "Failed password … from 8.8.8.8"`. So the identifier
// an entry gives is its program only when journald's own fields (which the sender
// cannot write) say that the process that logged it is that program:
//
//   - _COMM, the process name, is one of the program's (see journalPrograms): logger,
//     python3, sh are not sshd. A process can set its _COMM (prctl(PR_SET_NAME)), so
//   - _EXE, the executable the kernel runs, has one of those names too, and lies where
//     only root installs programs (journalSystemDirs): a copy of logger named
//     ~/sshd, /var/www/sshd or /var/lib/postgresql/postgres is not sshd or postgres.
//     An entry without _COMM or _EXE (the process ended before journald looked, or
//     was a zombie) cannot be told, and is not read as anything.
//   - _UID: the programs the shipped rules read run as root or as a system user, never
//     as a regular user (UID 1000 to 60000, systemd's and Debian's range): the real
//     /usr/sbin/sshd run by a user from a .forward is not the host's sshd. sshd and
//     dropbear log their attacks as root alone.
//
// A program the table does not know (an admin's rule for another service) is read when
// its process name (as the kernel keeps it: 15 bytes) and its executable's name are the
// identifier, in any case (cron's identifier is CRON), and its executable is in a system
// directory; its UID is not checked, since such a service may run as a regular user.

// journalProgram is what the processes of a program that logs to the journal look like.
type journalProgram struct {
	names  []string // its processes' names, as _COMM and _EXE's base name have them
	root   bool     // it logs as root alone
	kernel bool     // the kernel's: read from _TRANSPORT=kernel alone
}

var (
	sshdProcesses    = []string{"sshd", "sshd-session", "sshd-auth"}
	dovecotProcesses = []string{"dovecot", "log", "auth", "imap-login", "pop3-login", "submission-login", "managesieve-login"}
	mysqlProcesses   = []string{"mariadbd", "mysqld"}
	sendmailNames    = []string{"sendmail", "sendmail-mta", "sm-mta", "sendmail.sendmail"} // RHEL's, by alternatives
	// The FTP daemons of the shipped rules' first line, started by inetd under one
	// another's names.
	ftpdNames     = []string{"ftpd", "in.ftpd", "wu-ftpd", "wu.ftpd", "in.wuftpd", "inetutils-ftpd"}
	eximProcesses = []string{"exim", "exim4"}
	// Courier's daemons log through courierlogger, which takes their name.
	courierProcesses = []string{"courierlogger", "couriertcpd", "imapd", "imapd-ssl", "pop3d", "pop3d-ssl", "imaplogin", "pop3login", "courierpop3login"}
)

// journalPrograms are the programs the shipped rules read (configs/rules/attack.d) with
// processes whose names are not their identifiers, or that are root's; postfix's
// (postfix/smtpd, postfix/submission/smtpd: the process is smtpd) are journalProgramOf's.
var journalPrograms = map[string]journalProgram{
	"kernel":           {kernel: true},
	"sshd":             {names: sshdProcesses, root: true},
	"sshd-session":     {names: sshdProcesses, root: true},
	"dropbear":         {names: []string{"dropbear"}, root: true},
	"dovecot":          {names: dovecotProcesses},
	"mariadbd":         {names: mysqlProcesses},
	"mysqld":           {names: mysqlProcesses},
	"postgres":         {names: []string{"postgres"}},
	"exim":             {names: eximProcesses},
	"exim4":            {names: eximProcesses},
	"sendmail":         {names: sendmailNames},
	"sm-mta":           {names: sendmailNames},
	"imapd":            {names: courierProcesses},
	"imapd-ssl":        {names: courierProcesses},
	"pop3d":            {names: courierProcesses},
	"pop3d-ssl":        {names: courierProcesses},
	"courier-imapd":    {names: courierProcesses},
	"courier-pop3d":    {names: courierProcesses},
	"courierpop3login": {names: courierProcesses},
	"courier-imap":     {names: courierProcesses},
	"named":            {names: []string{"named"}},
	"vsftpd":           {names: []string{"vsftpd"}},
	"proftpd":          {names: []string{"proftpd"}},
	"pure-ftpd":        {names: []string{"pure-ftpd"}},
	"ftpd":             {names: ftpdNames},
	"wu-ftpd":          {names: ftpdNames},
	"wu.ftpd":          {names: ftpdNames},
	"in.ftpd":          {names: ftpdNames},
	"in.wuftpd":        {names: ftpdNames},
	"login":            {names: []string{"login"}},
	"su":               {names: []string{"su"}},
	"su-l":             {names: []string{"su"}},
	"sudo":             {names: []string{"sudo"}},
	"xinetd":           {names: []string{"xinetd"}},
}

// journalProgramOf is what identifier's processes look like, and whether the table
// knows it. postfix's identifiers are its syslog_name and the service, the process the
// last part: postfix/smtpd, postfix/submission/smtpd, postfix-out/smtpd.
func journalProgramOf(identifier string) (journalProgram, bool) {
	if p, ok := journalPrograms[identifier]; ok {
		return p, true
	}
	if name, _, ok := strings.Cut(identifier, "/"); ok && strings.HasPrefix(name, "postfix") {
		return journalProgram{names: []string{identifier[strings.LastIndexByte(identifier, '/')+1:]}}, true
	}
	return journalProgram{names: []string{identifier}}, false
}

// taskCommLen is the kernel's TASK_COMM_LEN less its NUL: _COMM is cut there.
const taskCommLen = 15

func commName(name string) string { return name[:min(len(name), taskCommLen)] }

// journalSystemDirs are where only root installs programs: an executable elsewhere (a
// home, /var/www, /var/lib/postgresql, /tmp) may be a user's copy of logger.
var journalSystemDirs = []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/", "/opt/", "/nix/store/", "/gnu/store/", "/snap/"}

// regularUser says whether uid is in the range of people's accounts (systemd's
// UIDS-GIDS.md, Debian's and Fedora's useradd): a service's system user is below it,
// nobody and systemd's dynamic users above.
func regularUser(uid uint64) bool { return uid >= 1000 && uid <= 60000 }

// Why an entry's process is not the program it names; each is a value of the refusal's
// "reason".
const (
	notItsProcess    = "its process is not that program's"
	notItsExecutable = "its executable is not that program's"
	notInstalled     = "its executable is not in a system directory (a user's copy)"
	untold           = "journald did not record its process (_COMM, _EXE, _UID): it ended before journald looked"
	aUsersProcess    = "its UID is a user's, not a system user's"
	notRoot          = "that program logs as root alone"
	notTheKernel     = "that program is the kernel, which logs with _TRANSPORT=kernel"
)

// journalProcessIs says whether the process that logged e is program (its identifier,
// or its _COMM when it has none): "" when it is, else why not (a const above).
func journalProcessIs(program string, e *journalEntry) string {
	p, known := journalProgramOf(program)
	if p.kernel {
		if journalValue(e.Transport) == "kernel" {
			return ""
		}
		return notTheKernel
	}
	comm, exe := journalValue(e.Comm), strings.TrimSuffix(journalValue(e.Exe), " (deleted)")
	uid, err := strconv.ParseUint(journalValue(e.UID), 10, 32)
	if comm == "" || exe == "" || err != nil {
		return untold
	}
	is := func(name string, comm bool) bool {
		for _, n := range p.names {
			if comm {
				n = commName(n)
			}
			if known && name == n || !known && strings.EqualFold(name, n) {
				return true
			}
		}
		return false
	}
	switch {
	case !is(comm, true):
		return notItsProcess
	case !is(path.Base(exe), false):
		return notItsExecutable
	case !inSystemDir(exe):
		return notInstalled
	case p.root && uid != 0:
		return notRoot
	case known && regularUser(uid):
		return aUsersProcess
	}
	return ""
}

// inSystemDir says whether exe, an absolute path, is in one of journalSystemDirs; a path
// with "." or ".." parts is not (journald writes the kernel's, which has none).
func inSystemDir(exe string) bool {
	if path.Clean(exe) != exe {
		return false
	}
	for _, dir := range journalSystemDirs {
		if strings.HasPrefix(exe, dir) {
			return true
		}
	}
	return false
}
