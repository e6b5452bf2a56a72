#!/bin/sh
# Report composition cost (issue 7): one memo to one party about 20 sources with 12
# evidence lines each, plain, with the X-ARF parts, and also signed (OpenPGP/MIME).
# A flood of attackers costs this once per party per policy.report_interval; the target
# is a few milliseconds per report even signed, so writing reports never delays reading logs.
# Reproduce: sh bench/reports.sh   (from the repository root; BENCHTIME=5s for steadier figures)
set -eu
cd "$(dirname "$0")/.."
benchtime=${BENCHTIME:-2s}

out=$(go test -run '^$' -bench 'BenchmarkCompose' -benchmem -benchtime "$benchtime" ./mailer/)
echo "$out" | grep '^Benchmark'
echo
echo "$out" | awk '
/^BenchmarkCompose\/plain/        { printf "memo, 20 sources:                   %6.2f ms  (target < 5 ms)\n", $3/1e6 }
/^BenchmarkCompose\/xarf-/        { printf "memo + 20 X-ARF parts:              %6.2f ms  (target < 5 ms)\n", $3/1e6 }
/^BenchmarkCompose\/xarf\+signed/ { printf "memo + X-ARF + OpenPGP signature:   %6.2f ms  (target < 5 ms)\n", $3/1e6 }
'
echo
echo "$(go version), $(nproc) cores; reproduce: sh bench/reports.sh"
