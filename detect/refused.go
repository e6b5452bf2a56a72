package detect

import "errors"

// Refused says, in a few words for the lists of unknown shapes, why an attack rule that
// matched the line took no event from it (an Unknown verdict with a Rule), or "" for
// any other verdict. No normal rule should be proposed for such a line: it hides the
// reason from the admin (pure-ftpd's failures, until numeric_hosts names it), and it
// never takes effect, since attack rules come first.
func (v Verdict) Refused() string {
	if v.Outcome != Unknown || v.Rule == "" {
		return ""
	}
	switch {
	case errors.Is(v.Err, errPTRAddress):
		return v.Header.Program + ": [detect] numeric_hosts does not name it (an address in its <PTR> slot)"
	case v.Err != nil:
		return "an attack rule refused it: " + prefix(v.Err.Error(), 100)
	}
	return "an attack rule refused it"
}
