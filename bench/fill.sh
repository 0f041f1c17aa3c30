#!/bin/bash
# bench/fill.sh: one cold fill of a fixture module graph through one modgate,
# with its CPU seconds and peak RSS, and a CPU profile (for profiling a change
# quickly; ../shared/bench/run.sh is the side-by-side measurement).
#
#   bench/fill.sh MODGATE_BINARY FIXTURE_DIR OUT_DIR [serve flags...]
#
# FIXTURE_DIR is what ../shared/bench/make-fixture.sh and record-sumdb.sh made
# ($B: modcache/cache/download, project/, sumdb/). Needs the shared bench's
# fixture-upstream (built here) and the vulnerability database at
# ../shared/vulndb (VULNDB overrides). Ports: PORT (default 18000) for the
# upstream, PORT+1 for modgate, PORT+2 for its --debug-listen. PROFSEC
# (default 60) is the length of the CPU profile written to OUT_DIR/cpu.prof;
# keep it shorter than the fill. LOGLEVEL (warn) is modgate's log level.
set -eu
[ $# -ge 3 ] || { sed -n 2,14p "$0" >&2; exit 2; }
bin=$(realpath "$1") fix=$(realpath "$2") out=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../shared" && pwd)
port=${PORT:-18000}
vulndb=${VULNDB:-file://$shared/vulndb}
rm -rf "$out"; mkdir -p "$out"/{data,proj,modcache,gopath,gocache,home,bin}
out=$(realpath "$out")
cp "$fix/project/go.mod" "$fix/project/go.sum" "$out/proj/"
(cd "$shared/bench/fixture-upstream" && GOFLAGS= go build -o "$out/bin/fixture-upstream" .)
"$out/bin/fixture-upstream" -listen 127.0.0.1:$port -root "$fix/modcache/cache/download" -latency 20ms -sumdb "$fix/sumdb" >"$out/up.log" 2>&1 &
up=$!
"$bin" vulndb sync --data "$out/data" --vulndb "$vulndb" >"$out/sync.log" 2>&1
"$bin" serve --listen 127.0.0.1:$((port+1)) --data "$out/data" --upstream http://127.0.0.1:$port --vulndb "$vulndb" \
  --policy "$shared/bench/modgate/policy.yaml" --log-level "${LOGLEVEL:-warn}" --debug-listen 127.0.0.1:$((port+2)) "$@" >"$out/serve.log" 2>&1 &
mg=$!
trap 'kill $mg $up 2>/dev/null; wait' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$((port+1))/readyz >/dev/null && break; sleep 0.2; done
cpu0=$(awk '{print $14+$15}' /proc/$mg/stat)
curl -s -o "$out/cpu.prof" "http://127.0.0.1:$((port+2))/debug/pprof/profile?seconds=${PROFSEC:-60}" &
prof=$!
t0=$(date +%s.%N)
(cd "$out/proj" && env -i PATH="$PATH" HOME="$out/home" GOENV=off GOTOOLCHAIN=local GOMODCACHE="$out/modcache" \
  GOPATH="$out/gopath" GOCACHE="$out/gocache" GOPROXY=http://127.0.0.1:$((port+1)) GOSUMDB=off \
  GOFLAGS="-mod=mod -modcacherw" go mod download all) >"$out/fill.log" 2>&1 || echo "go mod download all failed: see $out/fill.log"
t1=$(date +%s.%N)
cpu1=$(awk '{print $14+$15}' /proc/$mg/stat)
tick=$(getconf CLK_TCK)
echo "cold fill $(echo "$t1 - $t0" | bc) s; proxy CPU $(echo "scale=2; ($cpu1 - $cpu0) / $tick" | bc) s; peak RSS $(awk '/VmHWM/ {print int($2/1024)}' /proc/$mg/status) MiB"
wait $prof || true
