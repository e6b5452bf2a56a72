#!/bin/sh
# Lookup performance targets (issue 6), measured with the Go benchmarks against loopback
# peers (lookuptest's RDAP server counts the requests it gets):
#   - a lookup for a cached address answers in under a millisecond;
#   - 10,000 lookups of 500 attacking addresses from 50 networks cost at most 500 RDAP
#     requests (an answer is cached for the address asked about, not its network).
# Reproduce: sh bench/lookup.sh   (from the repository root; BENCHTIME=5s for steadier figures)
set -eu
cd "$(dirname "$0")/.."
benchtime=${BENCHTIME:-2s}

out=$(go test -run '^$' -bench 'BenchmarkContactCachedNetwork|BenchmarkContactBurst10000From50Networks' -benchtime "$benchtime" ./lookup/
      go test -run '^$' -bench 'BenchmarkFinderCachedInStore' -benchtime "$benchtime" ./daemon/
      go test -run '^$' -bench 'BenchmarkCachedContact' -benchtime "$benchtime" ./store/)
echo "$out" | grep '^Benchmark'
echo
echo "$out" | awk '
/^BenchmarkFinderCachedInStore/      { printf "cached lookup, cache in the state database: %8.1f µs  (target < 1000 µs)\n", $3/1000 }
/^BenchmarkContactCachedNetwork/     { printf "cached lookup, cache in memory:             %8.1f µs  (target < 1000 µs)\n", $3/1000 }
/^BenchmarkCachedContact/            { printf "one cache read from the state database:     %8.1f µs\n", $3/1000 }
/^BenchmarkContactBurst10000From50/  { printf "10,000 lookups of 500 addresses:            %8.0f RDAP requests (target <= 500), %.0f ms for the burst\n", $5, $3/1e6 }
'
echo
echo "$(go version), $(nproc) cores; reproduce: sh bench/lookup.sh"
