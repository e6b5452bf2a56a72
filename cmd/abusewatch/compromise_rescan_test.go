package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Every scan from cron is a new process: one that reads the attack going on after a
// login mailed by the scan before does not mail the admin the same possible compromise
// again, and one that reads another login from the address does.
func TestScanAfterScanMailsAPossibleCompromiseOnlyForANewLogin(t *testing.T) {
	dir, cfg := demoConfigFile(t, "observe")
	log := filepath.Join(dir, "auth.log")
	lines := "" +
		"2026-11-20T05:05:00.100000+00:00 web1 sshd[28507]: Failed password for sam from 81.2.69.160 port 30934 ssh2\n" +
		"2026-11-20T05:05:05.100000+00:00 web1 sshd[36750]: Failed password for sam from 81.2.69.160 port 58229 ssh2\n" +
		"2026-11-20T05:05:10.100000+00:00 web1 sshd[23630]: Failed password for sam from 81.2.69.160 port 35536 ssh2\n" +
		"2026-11-20T05:05:15.100000+00:00 web1 sshd[44961]: Failed password for sam from 81.2.69.160 port 63157 ssh2\n" +
		"2026-11-20T05:05:20.100000+00:00 web1 sshd[38476]: Failed password for sam from 81.2.69.160 port 45873 ssh2\n" +
		"2026-11-20T05:05:25.100000+00:00 web1 sshd[39205]: Failed password for sam from 81.2.69.160 port 32964 ssh2\n" +
		"2026-11-20T05:05:30.100000+00:00 web1 sshd[39206]: Accepted password for sam from 81.2.69.160 port 32965 ssh2\n"
	for _, step := range []struct {
		name   string
		lines  string
		mailed int64
	}{
		{"the login after failures", lines, 1},
		{"the attack goes on", "2026-11-20T05:05:40.100000+00:00 web1 sshd[39300]: Failed password for sam from 81.2.69.160 port 33001 ssh2\n" +
			"2026-11-20T05:05:45.100000+00:00 web1 sshd[39301]: Failed password for root from 81.2.69.160 port 33002 ssh2\n", 0},
		{"another login", "2026-11-20T05:06:30.100000+00:00 web1 sshd[39400]: Accepted password for backup from 81.2.69.160 port 33100 ssh2\n", 1},
	} {
		f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(step.lines); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", cfg, log)
		var sum scanSummary
		if err := json.Unmarshal([]byte(stdout), &sum); code != 0 || err != nil {
			t.Fatalf("%s: scan: exit %d (%v)\n%s%s", step.name, code, err, stdout, stderr)
		}
		if sum.Alerted != step.mailed {
			t.Errorf("%s: %d possible compromises mailed, want %d\n%s", step.name, sum.Alerted, step.mailed, stderr)
		}
	}
}
