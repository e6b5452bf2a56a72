package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The man page and the completions are generated from the flag definitions: every
// command and every one of its flags appears.
func TestManPageAndCompletionsListEveryCommandAndFlag(t *testing.T) {
	docs := commandDocs(t.Context())
	if len(docs) < 10 {
		t.Fatalf("only %d commands documented", len(docs))
	}
	man, stderr, code := runBinary(t, t.TempDir(), "man")
	if code != 0 {
		t.Fatalf("man: exit %d %s", code, stderr)
	}
	bash, _, code := runBinary(t, t.TempDir(), "completion", "bash")
	if code != 0 {
		t.Fatalf("completion bash: exit %d", code)
	}
	fish, _, _ := runBinary(t, t.TempDir(), "completion", "fish")
	for _, d := range docs {
		if d.name != "man" && d.name != "completion" && !strings.Contains(man, `.SS "`+roff(d.name)) {
			t.Errorf("the man page lacks %s", d.name)
		}
		for _, f := range d.flags {
			if d.name != "man" && d.name != "completion" && !strings.Contains(man, `\-\-`+roff(f.Name)) {
				t.Errorf("the man page lacks %s --%s", d.name, f.Name)
			}
			if !strings.Contains(bash, "--"+f.Name) || !strings.Contains(fish, "-l "+f.Name) {
				t.Errorf("the completions lack %s --%s", d.name, f.Name)
			}
		}
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(man)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns about the man page: %v\n%s", err, out)
		}
	}
	if bashPath, err := exec.LookPath("bash"); err == nil {
		if out, err := exec.Command(bashPath, "-n", "-c", bash).CombinedOutput(); err != nil {
			t.Errorf("the bash completion does not parse: %v\n%s", err, out)
		}
	}
}

// Every command answers -h with its usage and status 0 (README: "every command has
// -h"), `help CMD` is `CMD -h`, and the completions offer the subcommands of the
// commands that have them.
//
// The help goes to stdout, as `abusewatch -h` does (`abusewatch ip -h | less` showed
// nothing), and its usage line names every flag (the admin commands' --socket and
// --timeout were missing, correlate's -v). A mistake in the flags is printed once.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, d := range commandDocs(t.Context()) {
		out, stderr, code := runBinary(t, t.TempDir(), d.name, "-h")
		if code != 0 || !strings.HasPrefix(out, "Usage: abusewatch "+d.name) || stderr != "" {
			t.Errorf("%s -h: exit %d\n%s%s", d.name, code, out, stderr)
		}
		usage, _, _ := strings.Cut(out, "\nFlags:")
		for _, f := range d.flags {
			if !strings.Contains(usage, "-"+f.Name) {
				t.Errorf("%s -h: the usage line lacks --%s:\n%s", d.name, f.Name, usage)
			}
		}
	}
	_, stderr, code := runBinary(t, t.TempDir(), "incidents", "--limit", "abc")
	if code != 2 || strings.Count(stderr, `invalid value "abc"`) != 1 || strings.Contains(stderr, "Flags:") || !strings.Contains(stderr, "Try: abusewatch incidents -h") {
		t.Errorf("a bad flag value: exit %d, want 2 and the error once with the hint\n%s", code, stderr)
	}
	out, stderr, code := runBinary(t, t.TempDir(), "help", "rules")
	if code != 0 || !strings.Contains(out, "Usage: abusewatch rules test") || !strings.Contains(out, "abusewatch rules suggest") ||
		!strings.Contains(out, "-builtin") {
		t.Errorf("help rules: exit %d\n%s%s", code, out, stderr)
	}
	bash, _, _ := runBinary(t, t.TempDir(), "completion", "bash")
	fish, _, _ := runBinary(t, t.TempDir(), "completion", "fish")
	for cmd, subs := range map[string]string{"rules": "test suggest", "report": "show approve reject preview"} {
		if !strings.Contains(bash, cmd+`) COMPREPLY=($(compgen -W "`+subs) || !strings.Contains(fish, "__fish_seen_subcommand_from "+cmd+`' -a "`+subs+`"`) {
			t.Errorf("the completions do not offer %s's subcommands %s", cmd, subs)
		}
	}
}
