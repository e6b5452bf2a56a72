package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// Every --json writes its names in snake_case and an empty list as [], never null: the
// incidents in incidents, ip, net and correlate used Go's names (ID, First, AdminOnly)
// beside snake_case ones, and ip of an address without events had "incidents": null,
// on which a script's .incidents[] fails. incidents --json is an object with the total,
// as ip's and net's are, so a script sees that --limit cut the list.
func TestJSONOutputIsSnakeCaseWithoutNulls(t *testing.T) {
	dir := t.TempDir()
	demo := repoPath(t, "configs/demo.toml")
	stdout, stderr, code := runBinary(t, dir, "scan", "--json", "--config", demo, repoPath(t, "configs/demo/auth.log"))
	if code != 0 {
		t.Fatalf("scan: exit %d\n%s%s", code, stdout, stderr)
	}
	// Nothing read before is an empty list, as the README says, not a key left out.
	var scanned struct {
		ReadBefore *[]any `json:"read_before"`
	}
	if err := json.Unmarshal([]byte(stdout), &scanned); err != nil || scanned.ReadBefore == nil || len(*scanned.ReadBefore) != 0 {
		t.Errorf("scan --json of a new log: read_before is not []: %v\n%s", err, stdout)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	data := map[string]bool{"by_class": true, "hosts_hit": true, "by_rule": true} // keys that are classes, hosts, rules
	for _, args := range [][]string{
		{"incidents", "--since", "3650d", "--limit", "2"}, {"incidents", "--since", "1h"},
		{"ip", "45.134.26.17", "--since", "3650d"}, {"ip", "10.0.0.1"}, {"net", "218.92.0.0/16", "--since", "3650d"},
		{"exclude", "--list"}, {"unknown", "--since", "3650d"}, {"correlate", "--since", "3650d", "--rebuild"},
	} {
		stdout, stderr, code := runBinary(t, dir, append(args, "--json", "--config", demo)...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(stdout), &v); err != nil {
			t.Errorf("%v: not JSON: %v\n%s", args, err, stdout)
			continue
		}
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case nil:
				t.Errorf("%v: %s is null", args, path)
			case map[string]any:
				for k, x := range v {
					if !snake.MatchString(k) && !data[path[strings.LastIndex(path, ".")+1:]] {
						t.Errorf("%v: %s.%s is not snake_case", args, path, k)
					}
					walk(path+"."+k, x)
				}
			case []any:
				for _, x := range v {
					walk(path+"[]", x)
				}
			}
		}
		walk("", v)
		if args[0] == "incidents" {
			obj, _ := v.(map[string]any)
			list, _ := obj["incidents"].([]any)
			if args[2] == "3650d" && (len(list) != 2 || obj["total"] != float64(6)) {
				t.Errorf("%v: %d incidents of total %v; want 2 of 6", args, len(list), obj["total"])
			}
		}
	}
}
