#!/usr/bin/env bash
# Builds reproducible .deb and .rpm packages into build/ (or $BUILD_DIR) with nfpm:
#   deploy/package.sh [VERSION]
# Two runs from the same commit give byte-identical packages: the binary is built with
# -trimpath and without build IDs, and every timestamp is SOURCE_DATE_EPOCH (the commit
# time). Needs nfpm: go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.41.0
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nfpm >/dev/null || { echo "package.sh: nfpm is not installed: go install github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.41.0" >&2; exit 1; }
export ABUSEWATCH_VERSION="${1:-0.1.0}"
export GOARCH="${GOARCH:-$(go env GOARCH)}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1767225600)}"
out="${BUILD_DIR:-build}"
mkdir -p build "$out"
rm -f "$out"/abusewatch*.deb "$out"/abusewatch*.rpm
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-buildid=' -o build/abusewatch ./cmd/abusewatch
./build/abusewatch man > build/abusewatch.8
./build/abusewatch completion bash > build/abusewatch.bash
touch -d "@$SOURCE_DATE_EPOCH" build/abusewatch build/abusewatch.8 build/abusewatch.bash
for packager in deb rpm; do
  nfpm package --config deploy/nfpm.yaml --packager "$packager" --target "$out/"
done
ls -1 "$out"/abusewatch*.deb "$out"/abusewatch*.rpm
