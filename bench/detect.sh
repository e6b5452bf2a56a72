#!/bin/sh
# Detection throughput (issue 4). Target: parse + classify + normal filter at 500,000
# lines/s or more on one core, allocation-free in the common path, with a normal-rule set
# the size of logcheck's server database (about 1,450 rules).
#   The log: 1,000,000 lines of a realistic auth log (detect/detecttest: half attacks --
#     sshd in its many forms, firewall probes, FTP, SMTP AUTH, IMAP -- half normal traffic
#     of cron, sudo, sshd logins, postfix, systemd), written by bench/detectbench -gen.
#   abusewatch: bench/detectbench classifies every line in memory on one core
#     (GOMAXPROCS=1) with the shipped rules plus /etc/logcheck/ignore.d.server, five times;
#     the median is the figure. Reading the file is not timed (the daemon reads while it
#     classifies, on another goroutine).
#   fail2ban-regex with its sshd filter and sshguard's sshg-parser read the same file;
#     their median wall time of three runs gives their lines/s.
# Needs logcheck-database, fail2ban and sshguard (Debian packages): installed with apt-get
# when missing and run as root; a tool that is missing is skipped with a reason.
# Reproduce: sh bench/detect.sh [LINES]   (from the repository root, on an idle machine)
set -eu
cd "$(dirname "$0")/.."
lines=${1:-1000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

missing=""
[ -d /etc/logcheck/ignore.d.server ] || missing="$missing logcheck-database"
command -v fail2ban-regex >/dev/null 2>&1 || missing="$missing fail2ban"
[ -x /usr/libexec/sshguard/sshg-parser ] || [ -x /usr/lib/sshguard/sshg-parser ] || missing="$missing sshguard"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
	apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null ||
		echo "apt-get install$missing failed: continuing without" >&2
fi

# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

go build -o "$work/detectbench" ./bench/detectbench
"$work/detectbench" -gen "$lines" -log "$work/auth.log"
echo "log: $lines lines ($(du -h "$work/auth.log" | cut -f1)), the mix of detect/detecttest"
echo

normal=""
if [ -d /etc/logcheck/ignore.d.server ]; then
	normal="-normal /etc/logcheck/ignore.d.server"
else
	echo "no /etc/logcheck/ignore.d.server (apt-get install logcheck-database): shipped rules only" >&2
fi
# shellcheck disable=SC2086
out=$("$work/detectbench" -log "$work/auth.log" -runs 5 $normal 2>/dev/null)
echo "$out"
ours=$(echo "$out" | sed -n 's/^abusewatch detect: \([0-9]*\) lines\/s.*/\1/p')
echo

if command -v fail2ban-regex >/dev/null 2>&1; then
	f2b=$(for i in 1 2 3; do
		start=$(date +%s.%N)
		fail2ban-regex "$work/auth.log" /etc/fail2ban/filter.d/sshd.conf >/dev/null 2>&1
		end=$(date +%s.%N)
		awk -v n="$lines" -v s="$start" -v e="$end" 'BEGIN { print n / (e - s) }'
	done | median)
	printf "fail2ban-regex (sshd filter): %.0f lines/s (median of 3 runs, wall time)\n" "$f2b"
	printf "    abusewatch is %.1f times as fast\n" "$(awk -v a="$ours" -v b="$f2b" 'BEGIN { print a / b }')"
else
	echo "fail2ban-regex: not installed (apt-get install fail2ban)"
fi
parser=/usr/libexec/sshguard/sshg-parser
[ -x "$parser" ] || parser=/usr/lib/sshguard/sshg-parser
if [ -x "$parser" ]; then
	sg=$(for i in 1 2 3; do
		start=$(date +%s.%N)
		"$parser" <"$work/auth.log" >/dev/null
		end=$(date +%s.%N)
		awk -v n="$lines" -v s="$start" -v e="$end" 'BEGIN { print n / (e - s) }'
	done | median)
	printf "sshguard sshg-parser: %.0f lines/s (median of 3 runs, wall time)\n" "$sg"
	printf "    abusewatch is %.1f times as fast\n" "$(awk -v a="$ours" -v b="$sg" 'BEGIN { print a / b }')"
else
	echo "sshg-parser: not installed (apt-get install sshguard)"
fi
echo
echo "Go benchmarks: go test -run '^\$' -bench Classify -cpu 1 ./detect/"
echo "$(go version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); reproduce: sh bench/detect.sh $lines"
