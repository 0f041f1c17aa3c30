#!/usr/bin/env bash
# bench/run.sh measures modgate serving cached files against a static file
# server, on loopback, with wrk at concurrency 64. See bench/README.md.
#
# Environment: DURATION (wrk -d of one run, default 5s), ROUNDS (runs per
# target, default 2), CONNECTIONS (default 64), THREADS (default 2), KEEP=1
# keeps the work directory.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/modgate-bench.XXXXXX")
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
	echo "bench: $*" >&2
	exit 1
}

# wait_for FILE PATTERN: waits up to 30s for a line matching PATTERN in FILE.
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		if grep -q "$2" "$1" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "--- $1:" >&2
	cat "$1" >&2 || true
	die "timed out waiting for '$2' in $1"
}

for tool in go curl awk; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done
if ! command -v wrk >/dev/null; then
	echo "installing wrk" >&2
	apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi

echo "building modgate and benchserver" >&2
(cd "$root" && go build -o "$work/modgate" ./cmd/modgate && go build -o "$work/benchserver" ./bench/benchserver)

mkdir -p "$work/files" "$work/data"
"$work/benchserver" -dir "$work/files" >"$work/benchserver.out" 2>&1 &
static_pid=$!
pids+=("$static_pid")
wait_for "$work/benchserver.out" '^zip '
upstream=$(awk '$1 == "upstream" {print $2}' "$work/benchserver.out")
static=$(awk '$1 == "static" {print $2}' "$work/benchserver.out")
zip_path=$(awk '$1 == "zip" {print $2}' "$work/benchserver.out")
zip_size=$(awk '$1 == "zip" {print $3}' "$work/benchserver.out")
info_path=$(awk '$1 == "info" {print $2}' "$work/benchserver.out")
info_size=$(awk '$1 == "info" {print $3}' "$work/benchserver.out")

# Port 0 and --log-level info, to read the port from the "listening" line:
# info logs only startup and cache fills; served requests log at debug.
"$work/modgate" serve --listen 127.0.0.1:0 --data "$work/data" --upstream "$upstream" \
	--sumdb off --log-level info --log-format text >"$work/modgate.log" 2>&1 &
modgate_pid=$!
pids+=("$modgate_pid")
wait_for "$work/modgate.log" 'msg=listening'
modgate="http://$(grep -m1 'msg=listening' "$work/modgate.log" | sed -E 's/.* addr=([^ ]+).*/\1/')"

# Warm: fill modgate's cache and check that both servers give the same bytes.
for p in "$info_path" "$zip_path"; do
	for base in "$modgate" "$static" "$modgate"; do
		curl -fsS -o "$work/got" "$base$p" || die "GET $base$p failed"
	done
	curl -fsS "$static$p" | cmp -s - "$work/got" || die "$p: modgate and static answers differ"
done

# cputicks PID: prints the user+system CPU time of PID, in clock ticks.
cputicks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# bench NAME URL PID: runs wrk once against URL, served by process PID, and
# appends "NAME requests/s requests cpu-ticks" to results.
bench() {
	local name=$1 url=$2 pid=$3 out rps reqs t0 t1
	t0=$(cputicks "$pid")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$url")
	t1=$(cputicks "$pid")
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		echo "$out" >&2
		die "$name: wrk saw errors"
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	reqs=$(awk '/ requests in / {print $1}' <<<"$out")
	[[ -n $rps && -n $reqs ]] || { echo "$out" >&2; die "$name: no request counts in wrk output"; }
	echo "$name $rps $reqs $((t1 - t0))" >>"$work/results"
	echo "  $name: $rps requests/s" >&2
}

# Modgate and static take turns (m s s m ...), so that load from others on a
# shared machine weighs on both alike.
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds; zip $zip_size bytes, info $info_size bytes" >&2
: >"$work/results"
for kind in zip info; do
	if [[ $kind == zip ]]; then p=$zip_path; else p=$info_path; fi
	for ((i = 0; i < ROUNDS; i++)); do
		if ((i % 2 == 0)); then
			bench "modgate-$kind" "$modgate$p" "$modgate_pid"
			bench "static-$kind" "$static$p" "$static_pid"
		else
			bench "static-$kind" "$static$p" "$static_pid"
			bench "modgate-$kind" "$modgate$p" "$modgate_pid"
		fi
	done
done

hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$modgate_pid/status")
awk -v zs="$zip_size" -v is="$info_size" -v hwm="$hwm" -v tck="$(getconf CLK_TCK)" '
	{ rps[$1] += $2; n[$1]++; reqs[$1] += $3; ticks[$1] += $4 }
	END {
		printf "%-14s %12s %10s %14s\n", "target", "requests/s", "MB/s", "CPU us/req"
		split("modgate-zip static-zip modgate-info static-info", order, " ")
		for (i = 1; i <= 4; i++) {
			t = order[i]; r[t] = rps[t] / n[t]; c[t] = ticks[t] / tck * 1e6 / reqs[t]
			printf "%-14s %12.0f %10.1f %14.1f\n", t, r[t], r[t] * (t ~ /zip/ ? zs : is) / 1e6, c[t]
		}
		printf "zip  modgate/static: %.2f of the requests/s, %.2f times the CPU per request\n",
			r["modgate-zip"] / r["static-zip"], c["modgate-zip"] / c["static-zip"]
		printf "info modgate/static: %.2f of the requests/s, %.2f times the CPU per request\n",
			r["modgate-info"] / r["static-info"], c["modgate-info"] / c["static-info"]
		printf "modgate peak RSS (VmHWM): %.1f MiB\n", hwm / 1024
	}' "$work/results"
