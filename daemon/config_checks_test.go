package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkBase is a config that passes every check; the cases below add one thing to it.
const checkBase = "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\n"

// checkBaseLines is how many lines checkBase takes: a case's own lines follow.
const checkBaseLines = 4

// wantConfigError parses doc and wants a *ConfigError whose text starts with want.
func wantConfigError(t *testing.T, doc, want string) {
	t.Helper()
	_, err := ParseConfig("x.toml", []byte(doc))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v; want a *ConfigError starting %q", err, want)
	}
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error\n  %s\nwant prefix\n  %s", err, want)
	}
}

func TestObserveModeNeedsNoMailFrom(t *testing.T) {
	doc, err := os.ReadFile("../configs/abusewatch.toml")
	if err != nil {
		t.Fatal(err)
	}
	observe := strings.Replace(string(doc), `mode = "review"`, `mode = "observe"`, 1)
	cfg, err := ParseConfig("abusewatch.toml", []byte(observe))
	if err != nil {
		t.Fatalf("the example in observe mode: %v", err)
	}
	// The report template is checked with the placeholder From: nothing leaves.
	if _, err := Check(cfg); err != nil {
		t.Fatalf("Check of the example in observe mode: %v", err)
	}
	if cfg.Mail.From != "abusewatch@localhost" {
		t.Errorf("From = %q; want the placeholder, as no mail leaves", cfg.Mail.From)
	}
	// run builds the same composer.
	dir := t.TempDir()
	small := parseTestConfig(t, "x.toml", "[policy]\nmode = \"observe\"\n[lookup]\nrdap = false\n[store]\npath = \""+filepath.Join(dir, "state.db")+"\"\n")
	if _, err := NewPipeline(small, openTestStore(t, small), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("the daemon's pipeline in observe mode without mail.from: %v", err)
	}
	// The admin's summary still leaves: it comes from the admin's address.
	withAdmin := strings.Replace(observe, `admin = ""`, `admin = "root@example.org"`, 1)
	if cfg, err = ParseConfig("abusewatch.toml", []byte(withAdmin)); err != nil || cfg.Mail.From != "root@example.org" {
		t.Errorf("observe mode with mail.admin: From %q, %v; want the admin's address", cfg.Mail.From, err)
	}

	// Where mail.from is required, the error names the file, the line and the key.
	line := 1 + strings.Count(string(doc[:strings.Index(string(doc), "\nfrom = \"\"")]), "\n") + 1
	wantConfigError(t, string(doc), fmt.Sprintf(`x.toml:%d: mail.from: required unless policy.mode = "observe"`, line))
	// A file without the key points at its table, or at none.
	wantConfigError(t, "[mail]\nadmin = \"root@example.org\"\n", `x.toml:1: mail.from: required unless policy.mode = "observe"`)
	wantConfigError(t, "[reporter]\nname = \"Test Admin\"\n", `x.toml: mail.from: required unless policy.mode = "observe"`)
}

func TestMetricsListenNeedsHostAndPort(t *testing.T) {
	for _, bad := range []string{"localhost", "9733", "localhost:", "127.0.0.1:nosuchservice"} {
		wantConfigError(t, checkBase+"[metrics]\nlisten = \""+bad+"\"\n",
			fmt.Sprintf(`x.toml:%d: metrics.listen: %q is not an address to listen on: write host:port`, checkBaseLines+2, bad))
	}
	for _, good := range []string{"", "127.0.0.1:9733", "[::1]:9733", ":9733", "localhost:0"} {
		if _, err := ParseConfig("x.toml", []byte(checkBase+"[metrics]\nlisten = \""+good+"\"\n")); err != nil {
			t.Errorf("listen = %q: %v", good, err)
		}
	}
}

func TestAdminGroupMustExistOnThisHost(t *testing.T) {
	wantConfigError(t, checkBase+"[admin]\nsocket = \"/run/abusewatch/admin.sock\"\ngroup = \"nosuchgroup\"\n",
		fmt.Sprintf(`x.toml:%d: admin.group: no group "nosuchgroup" on this host: create it (groupadd --system nosuchgroup)`, checkBaseLines+3))
	// Without the socket, the group is not used.
	if _, err := ParseConfig("x.toml", []byte(checkBase+"[admin]\nsocket = \"\"\ngroup = \"nosuchgroup\"\n")); err != nil {
		t.Errorf("no socket: %v", err)
	}
	g, err := user.LookupGroupId(fmt.Sprint(os.Getgid()))
	if err != nil {
		t.Skipf("this process's group has no name: %v", err)
	}
	if _, err := ParseConfig("x.toml", []byte(checkBase+"[admin]\ngroup = \""+g.Name+"\"\n")); err != nil {
		t.Errorf("group %q, which exists: %v", g.Name, err)
	}
}

func TestSyslogCertificateAndKeyLoadAtCheck(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	otherCert, otherKey, _ := selfSigned(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	doc := func(cert, key string) string {
		return checkBase + fmt.Sprintf("[syslog]\ntls = [\"127.0.0.1:6514\"]\nallow = [\"192.0.2.0/24\"]\ncert_file = %q\nkey_file = %q\n", cert, key)
	}
	wantConfigError(t, doc(missing, keyFile), fmt.Sprintf("x.toml:%d: syslog.cert_file: open %s: no such file or directory", checkBaseLines+4, missing))
	wantConfigError(t, doc(certFile, missing), fmt.Sprintf("x.toml:%d: syslog.key_file: open %s: no such file or directory", checkBaseLines+5, missing))
	wantConfigError(t, doc(certFile, otherKey), fmt.Sprintf("x.toml:%d: syslog.cert_file: %s and syslog.key_file %s do not load as a certificate and its key", checkBaseLines+4, certFile, otherKey))
	wantConfigError(t, doc(keyFile, certFile), fmt.Sprintf("x.toml:%d: syslog.cert_file: %s and syslog.key_file %s do not load", checkBaseLines+4, keyFile, certFile))
	for _, pair := range [][2]string{{certFile, keyFile}, {otherCert, otherKey}} {
		if _, err := ParseConfig("x.toml", []byte(doc(pair[0], pair[1]))); err != nil {
			t.Errorf("a matching pair: %v", err)
		}
	}
}

// Preflight is run's own refusal when nothing is watched, word for word.
func TestPreflightRefusesAConfigThatWatchesNothing(t *testing.T) {
	cfg := parseTestConfig(t, "x.toml", checkBase)
	_, _, err := cfg.Preflight()
	if err == nil || err.Error() != "x.toml: no [[source]] files, no [journal] and no [syslog] listener configured: nothing to watch" {
		t.Fatalf("Preflight = %v", err)
	}
	log := filepath.Join(t.TempDir(), "auth.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, more := range []string{"[[source]]\nfiles = [\"" + log + "\"]\n", "[journal]\nenabled = true\n",
		"[syslog]\nudp = [\"127.0.0.1:5514\"]\nallow = [\"127.0.0.1\"]\n"} {
		cfg := parseTestConfig(t, "x.toml", checkBase+more)
		if files, warnings, err := cfg.Preflight(); err != nil || len(warnings) != 0 {
			t.Errorf("%q: files %v, warnings %v, %v", more, files, warnings, err)
		}
	}
}

func TestDirectoryIsNotALogFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "apt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantConfigError(t, checkBase+"[[source]]\nfiles = [\""+dir+"\"]\n",
		fmt.Sprintf("x.toml:%d: source[0].files: %s is a directory: name the log files in it", checkBaseLines+2, dir))
	// A glob is expanded when the daemon starts (and every 2s): Preflight refuses it.
	cfg := parseTestConfig(t, "x.toml", checkBase+"[[source]]\nfiles = [\""+dir+"/*\"]\n")
	_, _, err := cfg.Preflight()
	if want := fmt.Sprintf("x.toml:%d: source[0].files: %s/* matches the directory %s/apt", checkBaseLines+2, dir, dir); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Preflight = %v; want %s", err, want)
	}
}

func TestReportableClassesAreOnesTheRulesMake(t *testing.T) {
	attack := t.TempDir()
	if err := os.WriteFile(filepath.Join(attack, "local"), []byte("# my rules\nvsftpd  ftp-probe  ^probe from <HOST>$\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(attack, "auth.log")
	if err := os.WriteFile(log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := checkBase + "[[source]]\nfiles = [\"" + log + "\"]\n[detect]\nattack_dirs = [\"" + attack + "\"]\n[correlate]\n"
	line := checkBaseLines + 6
	for _, tc := range []struct{ reportable, want string }{
		{`["auth-failures"]`, fmt.Sprintf(`x.toml:%d: correlate.reportable: "auth-failures" is not an event class: neither abusewatch nor an attack rule makes it, so it would count nothing (did you mean "auth-failure"?)`, line)},
		{`["auth-failure", "invalid_user"]`, fmt.Sprintf(`x.toml:%d: correlate.reportable: "invalid_user" is not an event class: neither abusewatch nor an attack rule makes it, so it would count nothing (did you mean "invalid-user"?)`, line)},
		{`["ftp-probes"]`, `(did you mean "ftp-probe"?)`},
		{`["nonsense-of-any-kind"]`, `(known classes: auth-failure, invalid-user, auth-success, unknown, `},
	} {
		cfg := parseTestConfig(t, "x.toml", base+"reportable = "+tc.reportable+"\n")
		_, err := LoadRules(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reportable = %s: %v; want %s", tc.reportable, err, tc.want)
		}
	}
	// The classes of the program, of the shipped rules and of the admin's own rules.
	cfg := parseTestConfig(t, "x.toml", base+`reportable = ["auth-failure", "unknown", "protocol-probe", "ftp-probe"]`+"\n")
	if _, err := LoadRules(cfg); err != nil {
		t.Errorf("known classes: %v", err)
	}
	// Without the shipped rules, their classes are made by nothing.
	cfg = parseTestConfig(t, "x.toml", strings.Replace(base, "[detect]\n", "[detect]\nbuiltin_rules = false\n", 1)+`reportable = ["protocol-probe"]`+"\n")
	if _, err := LoadRules(cfg); err == nil || !strings.Contains(err.Error(), `"protocol-probe" is not an event class`) {
		t.Errorf("a shipped rule's class without the shipped rules: %v", err)
	}
}

// A network with address bits past its length is refused as the admin commands refuse it.
func TestNetworksWithHostBitsAreRefusedNotMasked(t *testing.T) {
	_, excludeErr := ParseExclusion("45.134.26.7/8")
	if excludeErr == nil {
		t.Fatal("ParseExclusion accepts 45.134.26.7/8")
	}
	wantConfigError(t, checkBase+"[policy]\nnever_report = [\"198.51.100.0/24\", \"45.134.26.7/8\"]\n",
		fmt.Sprintf("x.toml:%d: policy.never_report: %v", checkBaseLines+2, excludeErr))
	_, contactErr := ParseExclusion("203.0.113.7/16")
	wantConfigError(t, checkBase+"[[contact]]\nnetwork = \"203.0.113.7/16\"\nemails = [\"abuse@example.net\"]\n",
		fmt.Sprintf("x.toml:%d: contact[0].network: %v", checkBaseLines+2, contactErr))
	_, allowErr := ParseExclusion("192.0.2.7/24")
	wantConfigError(t, checkBase+"[syslog]\nudp = [\"127.0.0.1:5514\"]\nallow = [\"192.0.2.7/24\"]\n",
		fmt.Sprintf("x.toml:%d: syslog.allow: %v", checkBaseLines+3, allowErr))

	// The networks written as networks, and one address (as the advice says) for a contact.
	cfg := parseTestConfig(t, "x.toml", checkBase+"[policy]\nnever_report = [\"45.0.0.0/8\", \"45.134.26.7\"]\n[[contact]]\nnetwork = \"203.0.113.7\"\nemails = [\"abuse@example.net\"]\n")
	if cfg.Contacts[0].Network != "203.0.113.7/32" {
		t.Errorf("contact network = %q; want 203.0.113.7/32", cfg.Contacts[0].Network)
	}
}

func TestZeroAndNegativeCountsAreRefusedNotReplaced(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[correlate]\nthreshold = 0\n", "correlate.threshold: must be at least 1, not 0: the per-address rule cannot be switched off"},
		{"[correlate]\nthreshold = -1\n", "correlate.threshold: must be at least 1, not -1"},
		{"[correlate]\nevidence = 0\n", "correlate.evidence: must be at least 2 (an incident keeps its first and its last line), not 0"},
		{"[correlate]\nevidence = 1\n", "correlate.evidence: must be at least 2"},
		{"[correlate]\nevidence = -3\n", "correlate.evidence: must be at least 2 (an incident keeps its first and its last line), not -3"},
		{"[correlate]\nwindow = \"0s\"\n", "correlate.window: must be positive, not 0s"},
		{"[lookup]\ntimeout = \"0s\"\n", "lookup.timeout: must be positive, not 0s"},
		{"[mail]\ntimeout = \"0s\"\n", "mail.timeout: must be positive, not 0s"},
		{"[policy]\nreport_interval = \"0s\"\n", "policy.report_interval: must be positive, not 0s"},
		{"[summary]\ntop = 0\n", "summary.top: must be at least 1, not 0"},
		{"[correlate]\nreportable = []\n", "correlate.reportable: names no class"},
	} {
		// The case's table comes second, so its key is on the line after the base's.
		doc := "[reporter]\nname = \"Test Admin\"\n" + tc.doc + "[mail]\nfrom = \"a@example.org\"\n"
		if strings.HasPrefix(tc.doc, "[mail]") {
			doc = "[reporter]\nname = \"Test Admin\"\n" + tc.doc + "from = \"a@example.org\"\n"
		}
		wantConfigError(t, doc, "x.toml:4: "+tc.want)
	}
	cfg := parseTestConfig(t, "x.toml", checkBase)
	if k := cfg.Correlate; k.Threshold != 5 || k.Evidence != 10 || k.Window.Duration != 10*time.Minute {
		t.Errorf("defaults: threshold %d, evidence %d, window %s", k.Threshold, k.Evidence, k.Window)
	}
}

func TestDurationsThatOverflowAreRefused(t *testing.T) {
	for _, in := range []string{"300000d", "106752d", "99999999999999999999d", "3000000h", "106751d24h", "1d2562047h"} {
		if d, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), "is too long: at most 106751d") {
			t.Errorf("ParseDuration(%q) = %v, %v; want it refused as too long", in, d, err)
		}
	}
	if d, err := ParseDuration("106751d"); err != nil || d != 106751*24*time.Hour {
		t.Errorf("ParseDuration(106751d) = %v, %v", d, err)
	}
	if _, err := ParseDuration("1dxyz"); err == nil || !strings.Contains(err.Error(), `"1dxyz"`) {
		t.Errorf("ParseDuration(1dxyz): %v; want the whole value quoted", err)
	}
	wantConfigError(t, checkBase+"[policy]\nmax_age = \"300000d\"\n",
		fmt.Sprintf(`x.toml:%d: policy.max_age: duration "300000d" is too long: at most 106751d (about 292 years)`, checkBaseLines+2))
	// Errors quote durations in days as days.
	wantConfigError(t, "[reporter]\nname = \"Test Admin\"\n[mail]\nfrom = \"a@example.org\"\nretry_min = \"2d\"\nretry_max = \"36h\"\n",
		"x.toml:6: mail.retry_max: 36h0m0s is shorter than mail.retry_min (2d)")
}

func TestErrorsInsideInlineTablesAndMissingKeysSayWhere(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"[correlate]\nwindows = [{threshold = 20, window = 3600}]\n",
			"x.toml:6: correlate.windows: entry 1: window: wrong type: the key wants a duration in quotes"},
		{"[correlate]\nwindows = [\n  {threshold = 20, window = \"1h\"},\n  {threshold = 50, window = \"1 day\"},\n]\n",
			`x.toml:8: correlate.windows: entry 2: window: invalid duration "1 day"`},
		{"[[contact]]\nnetwork = \"198.51.100.0/24\"\nemails = [\"abuse@example.net\"]\n\n[[contact]]\nnetwork = \"203.0.113.0/24\"\n",
			"x.toml:9: contact[1].emails: a [[contact]] needs at least one address"},
		{"[[contact]]\nemails = [\"abuse@example.net\"]\n", "x.toml:5: contact[0].network: a [[contact]] needs network"},
	} {
		wantConfigError(t, checkBase+tc.doc, tc.want)
	}
	// A duplicate key is named with its table.
	wantConfigError(t, "[mail]\nfrom = \"a@example.org\"\n[reporter]\nname = \"Test Admin\"\nname = \"Jane Doe\"\n",
		"x.toml:5: reporter.name: key name is already defined")
}

func TestRuleDirectoriesAreCheckedWithTheirKey(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	wantConfigError(t, checkBase+"[detect]\nnormal_dirs = [\"normal.d\"]\n",
		fmt.Sprintf(`x.toml:%d: detect.normal_dirs: rule directory "normal.d" does not exist in %s (a relative path is taken from the directory abusewatch runs in, not from the config file's)`, checkBaseLines+2, wd))
	file := filepath.Join(t.TempDir(), "sshd")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wantConfigError(t, checkBase+"[detect]\nattack_dirs = [\""+file+"\"]\n",
		fmt.Sprintf(`x.toml:%d: detect.attack_dirs: %q is not a directory: name the directory that holds the rule files`, checkBaseLines+2, file))
}

func TestMissingLogFileIsAWarning(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "auth.log")
	cfg := parseTestConfig(t, "x.toml", checkBase+"[[source]]\nfiles = [\""+missing+"\", \""+dir+"/secure*\"]\n")
	files, warnings, err := cfg.Preflight()
	if err != nil || len(files) != 1 || len(warnings) != 2 {
		t.Fatalf("files %v, warnings %v, %v; want the missing file followed and two warnings", files, warnings, err)
	}
	want := fmt.Sprintf("x.toml:%d: source[0].files: %s does not exist (yet): it will be read when it appears (if sshd logs only to the systemd journal, as on Debian 12 and later without rsyslog, set [journal] enabled = true)", checkBaseLines+2, missing)
	if warnings[0].Error() != want {
		t.Errorf("warning\n  %s\nwant\n  %s", warnings[0], want)
	}
	if !strings.Contains(warnings[1].Error(), dir+"/secure* matches no log file (yet)") {
		t.Errorf("warning %s", warnings[1])
	}
	// With the journal on, the warning does not suggest it.
	cfg = parseTestConfig(t, "x.toml", checkBase+"[[source]]\nfiles = [\""+missing+"\"]\n[journal]\nenabled = true\n")
	if _, warnings, err := cfg.Preflight(); err != nil || len(warnings) != 1 || warnings[0].Hint != "" {
		t.Errorf("with the journal: warnings %v, %v", warnings, err)
	}
}

// A mail.template of the admin's that does not parse is named, with the key's line:
// the mailer calls every template report.tmpl.
func TestABadTemplateIsNamed(t *testing.T) {
	tmpl := filepath.Join(t.TempDir(), "memo.tmpl")
	if err := os.WriteFile(tmpl, []byte("Hello {{.Reporter.Name}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := parseTestConfig(t, "x.toml", strings.Replace(checkBase, "[mail]\n", "[mail]\ntemplate = \""+tmpl+"\"\n", 1))
	_, err := NewComposer(cfg)
	if err == nil || !strings.Contains(err.Error(), "mail.template: "+tmpl+": ") || !strings.Contains(err.Error(), "memo.tmpl:1:") ||
		strings.Contains(err.Error(), "report.tmpl") {
		t.Errorf("NewComposer = %v; want the admin's file named, at its line", err)
	}
}
