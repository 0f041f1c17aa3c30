#!/usr/bin/env bash
# Serving zips from an S3 bucket (a real versitygw on 127.0.0.1) beside the
# same zip from the blob directory: wrk -c64 throughput and modgate's peak RSS
# (VmHWM) for each store. See bench/README.md.
set -euo pipefail

DURATION=${DURATION:-10s}
SIZE=${SIZE:-23068672} # bytes of random data in the zip (22 MiB)
CONNECTIONS=${CONNECTIONS:-64}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/modgate-s3bench.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "bench: $*" >&2; exit 1; }
wait_for() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$1" >&2 || true
	die "timed out waiting for '$2' in $1"
}
vgw=${MODGATE_VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
[[ -x $vgw ]] || die "versitygw is needed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
command -v wrk >/dev/null || die "wrk is needed (apt-get install -y wrk)"

(cd "$root" && go build -o "$work/modgate" ./cmd/modgate && go build -o "$work/benchserver" ./bench/benchserver)
mkdir -p "$work/files" "$work/s3/modgate" "$work/data-file" "$work/data-s3"
"$work/benchserver" -dir "$work/files" -size "$SIZE" >"$work/benchserver.out" 2>&1 &
pids+=($!)
wait_for "$work/benchserver.out" '^zip '
upstream=$(awk '$1 == "upstream" {print $2}' "$work/benchserver.out")
zip_path=$(awk '$1 == "zip" {print $2}' "$work/benchserver.out")
zip_size=$(awk '$1 == "zip" {print $3}' "$work/benchserver.out")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
ROOT_ACCESS_KEY_ID=bench ROOT_SECRET_ACCESS_KEY=benchsecret "$vgw" --port "127.0.0.1:$port" --quiet --keep-alive posix "$work/s3" >"$work/vgw.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 100; i++)); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

start() { # name, extra flags...
	local name=$1
	shift
	"$work/modgate" serve --listen 127.0.0.1:0 --data "$work/data-$name" --upstream "$upstream" --sumdb off \
		--vulndb off --index off --log-level info --log-format text "$@" >"$work/modgate-$name.log" 2>&1 &
	pids+=($!)
	echo $! >"$work/pid-$name"
	wait_for "$work/modgate-$name.log" 'msg=listening'
	grep -m1 'msg=listening' "$work/modgate-$name.log" | sed -E 's/.* addr=([^ ]+).*/http:\/\/\1/' >"$work/url-$name"
}
start file
start s3 --blob-store "s3://modgate/blobs?endpoint=http://127.0.0.1:$port&path_style=true"
for name in file s3; do
	url=$(cat "$work/url-$name")
	curl -fsS -o "$work/got-$name" "$url$zip_path" || die "$name: GET failed"
done
cmp -s "$work/got-file" "$work/got-s3" || die "file and s3 answers differ"

echo "zip of $zip_size bytes, wrk -t2 -c$CONNECTIONS -d$DURATION; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in file s3 file s3; do
	url=$(cat "$work/url-$name")
	pid=$(cat "$work/pid-$name")
	out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s "$url$zip_path")
	grep -qE 'Non-2xx|Socket errors' <<<"$out" && { echo "$out" >&2; die "$name: wrk saw errors"; }
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	printf '%-5s %8.1f MB/s  peak RSS %d MiB\n' "$name" "$(awk -v r="$rps" -v s="$zip_size" 'BEGIN {print r * s / 1e6}')" $((hwm / 1024))
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
