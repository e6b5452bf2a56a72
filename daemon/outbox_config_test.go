package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestOutboxConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig("a.toml", []byte("[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := OutboxPolicy(cfg)
	if p.Cooldown != 7*24*time.Hour || p.DomainPerHour != 5 || p.DailyCap != 50 || p.RetryMin != 5*time.Minute ||
		p.RetryMax != 6*time.Hour || p.GiveUpAfter != 5*24*time.Hour || !*cfg.Mail.XARF || cfg.Summary.Time != "07:00" {
		t.Errorf("defaults: %+v, xarf %v, summary %q", p, *cfg.Mail.XARF, cfg.Summary.Time)
	}
	off, err := ParseConfig("a.toml", []byte("[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n[policy]\ncooldown = \"0s\"\n[summary]\ntime = \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if off.Policy.Cooldown.Duration != 0 || off.Summary.Time != "" {
		t.Errorf("explicit off: cooldown %v, summary %q", off.Policy.Cooldown, off.Summary.Time)
	}
}

func TestOutboxConfigErrorsNameFileLineAndKey(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[mail]\nfrom = \"a@example.org\"\nhelo_name = \"bad name\"\n", "a.toml:3: mail.helo_name"},
		{"[mail]\nfrom = \"a@example.org\"\nhosts = { web1 = \"not-an-ip\" }\n", "a.toml:3: mail.hosts"},
		{"[mail]\nfrom = \"a@example.org\"\nretry_min = \"1h\"\nretry_max = \"1m\"\n", "a.toml:4: mail.retry_max"},
		{"[mail]\nfrom = \"a@example.org\"\n[policy]\ndaily_cap = -1\n", "a.toml:4: policy.daily_cap"},
		{"[mail]\nfrom = \"a@example.org\"\n[policy]\ncooldown = 7\n", "a.toml:4: policy.cooldown"},
		{"[mail]\nfrom = \"a@example.org\"\n[summary]\ntime = \"7am\"\n", "a.toml:4: summary.time"},
		{"[mail]\nfrom = \"a@example.org\"\n[signing]\nkey_file = \"/nonexistent/key.asc\"\n", "a.toml:4: signing.key_file"},
		{"[mail]\nfrom = \"a@example.org\"\n[signing]\nkey_url = \"https://example.org/k.asc\"\n", "a.toml:4: signing.key_url"},
	} {
		_, err := ParseConfig("a.toml", []byte(tc.doc))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %s…", tc.doc, err, tc.want)
		}
	}
}
