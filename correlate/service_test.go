package correlate

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The services a sweep compares are those of the shipped attack rules: every program
// the rule files for SSH, FTP and MySQL name is one service per file, and the programs
// of mail's SMTP rules are one SMTP service; a program the rules do not group (a file's
// other servers, the admin's own rules) is its own.
func TestServicesAreThoseOfTheShippedAttackRules(t *testing.T) {
	programs := func(file string) (lines [][]string) {
		f, err := os.Open(filepath.Join("..", "configs", "rules", "attack.d", file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) > 0 && !strings.HasPrefix(fields[0], "#") && fields[0] != "*" {
				lines = append(lines, strings.Split(fields[0], ","))
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return lines
	}
	for file, want := range map[string]string{"sshd": "sshd", "ftp": "ftp", "mysql": "mysql"} {
		for _, line := range programs(file) {
			for _, p := range line {
				if got := serviceOfProgram(p); got != want {
					t.Errorf("attack.d/%s: %s is service %q, want %q", file, p, got, want)
				}
			}
		}
	}
	if !slices.Contains(slices.Concat(programs("sshd")...), "sshd-session") {
		t.Error("attack.d/sshd names no sshd-session")
	}
	smtp := 0
	for _, line := range programs("mail") {
		isSMTP := slices.ContainsFunc(line, func(p string) bool {
			return strings.HasPrefix(p, "postfix/") || strings.HasPrefix(p, "exim") || p == "sendmail"
		})
		for _, p := range line {
			if got := serviceOfProgram(p); (got == "smtp") != isSMTP {
				t.Errorf("attack.d/mail: %s is service %q (of SMTP's rules: %v)", p, got, isSMTP)
			} else if !isSMTP && got != p {
				t.Errorf("attack.d/mail: %s is service %q, want its own", p, got)
			}
			if isSMTP {
				smtp++
			}
		}
	}
	if smtp == 0 {
		t.Error("attack.d/mail names no SMTP server")
	}
	for _, p := range []string{"dovecot", "named", "xinetd", "kernel", "my-own-daemon"} {
		if got := serviceOfProgram(p); got != p {
			t.Errorf("%s is service %q, want its own", p, got)
		}
	}
}
