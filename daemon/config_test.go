package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The example needs two edits to run, in the order the checks ask for them: who the
// reports come from (mail.from), and who sends them (reporter.name).
const (
	exampleFrom = `from = "abusewatch@example.org"`
	exampleName = `name = "Jane Doe"`
)

func loadExample(t *testing.T) *Config {
	t.Helper()
	doc, err := os.ReadFile("../configs/abusewatch.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig("abusewatch.toml", doc); err == nil || !strings.Contains(err.Error(), "mail.from") {
		t.Fatalf("the example without mail.from: %v; want an error asking for mail.from", err)
	}
	edited := strings.Replace(string(doc), `from = ""`, exampleFrom, 1)
	if _, err := ParseConfig("abusewatch.toml", []byte(edited)); err == nil || !strings.Contains(err.Error(), "reporter.name") {
		t.Fatalf("the example without reporter.name: %v; want an error asking who sends the reports", err)
	}
	edited = strings.Replace(edited, `name = ""`, exampleName, 1)
	cfg, err := ParseConfig("abusewatch.toml", []byte(edited))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestShippedConfigsAreValid(t *testing.T) {
	demo, err := LoadConfig("../configs/demo.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []*Config{loadExample(t), demo} {
		if _, err := Check(cfg); err != nil {
			t.Errorf("%s: %v", cfg.File(), err)
		}
	}
}

func TestExampleConfigDocumentsDefaults(t *testing.T) {
	example := loadExample(t)
	// A file that sets only what the example sets to a non-default value.
	minimal, err := ParseConfig("minimal.toml", []byte("[[source]]\nfiles = [\"/var/log/auth.log\"]\n[reporter]\n"+exampleName+"\n[mail]\n"+exampleFrom+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := dump(example), dump(minimal); a != b {
		t.Errorf("the example's values differ from the defaults:\nexample:  %s\ndefaults: %s", a, b)
	}
}

// dump prints the values of c, an empty list and a missing one alike.
func dump(c *Config) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return strings.ReplaceAll(string(b), "null", "[]")
}

func TestConfigErrorsSayWhereAndWhat(t *testing.T) {
	base := "[mail]\nfrom = \"abusewatch@example.org\"\n"
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown key", base + "[correlate]\nthresold = 3\n", `bad.toml:4: correlate.thresold: unknown key (did you mean "threshold"?)`},
		{"unknown section key", base + "[[source]]\nfile = [\"/var/log/auth.log\"]\n", `bad.toml:4: source.file: unknown key (did you mean "files"?)`},
		{"wrong type", base + "[correlate]\nthreshold = \"five\"\n", `bad.toml:4: correlate.threshold: wrong type: this is a TOML string, the key wants a whole number`},
		{"bad duration", base + "[correlate]\nwindow = \"10 minutes\"\n", `bad.toml:4: correlate.window: invalid duration`},
		{"bad mode", base + "[policy]\n\nmode = \"obsrve\"\n", `bad.toml:5: policy.mode: unknown mode "obsrve": use "observe", "review" or "auto" (did you mean "observe"?)`},
		{"bad network", base + "[[contact]]\nnetwork = \"1.2.3.0/24\"\nemails = [\"a@example.net\"]\n[[contact]]\nnetwork = \"1.2.3.0/33\"\nemails = [\"a@example.net\"]\n", `bad.toml:7: contact[1].network: "1.2.3.0/33" is not a network`},
		{"bad email", base + "[[contact]]\nnetwork = \"1.2.3.0/24\"\nemails = [\"not an address\"]\n", `bad.toml:5: contact[0].emails: "not an address" is not a mail address`},
		{"bad zone", base + "[reporter]\ntimezone = \"Mars/Olympus\"\n", `bad.toml:4: reporter.timezone: unknown time zone "Mars/Olympus"`},
		{"syntax", "[mail\n", `bad.toml:1: expected ']'`},
		{"nobody signs", base + "[reporter]\nname = \" \"\nemail = \"sec@example.org\"\n", `bad.toml:4: reporter.name: mode "review" writes reports, which say who sends them`},
		{"nobody signs in auto", base + "[policy]\nmode = \"auto\"\n", `bad.toml: reporter.name: mode "auto" writes reports`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("bad.toml", []byte(tc.doc))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n  %s\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}

// A duration the admin wrote in days comes back in days in an error, as written: it
// came back as "12000h0m0s".
func TestConfigErrorsWriteDurationsAsTheConfigDoes(t *testing.T) {
	base := "[mail]\nfrom = \"abusewatch@example.org\"\n[reporter]\nname = \"Test Admin\"\n"
	for doc, want := range map[string]string{
		"[retention]\nevents = \"500d\"\ncounters = \"100d\"\n": "retention.counters: must be at least retention.events (500d)",
		"[retention]\nevents = \"1h\"\n":                        "retention.events: must be at least 1d (raw events are the evidence of reports), not 1h0m0s",
		"[correlate]\nrecurrence_period = \"500d\"\n":           "retention.counters: must cover correlate.recurrence_period (500d)",
	} {
		if _, err := ParseConfig("bad.toml", []byte(base+doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", doc, err, want)
		}
	}
}

func TestBadRuleFileIsRefusedWithFileAndLine(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "local")
	if err := os.WriteFile(rules, []byte("# my rules\n^ok$\n^broken( rule$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	doc := "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n[detect]\nnormal_dirs = [\"" + dir + "\"]\n"
	cfg, err := ParseConfig("x.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Check(cfg)
	if err == nil || !strings.Contains(err.Error(), "local:3:") {
		t.Fatalf("Check = %v; want an error naming local:3", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "10m": 10 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "7days", "10 minutes"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
