#!/usr/bin/env bash
# Measures the release `serve` with a generated data set: time to the listening line, and the
# median of several `$top=999` page fetches (curl time_total). Usage:
#   scripts/measure-serve.sh [DEVICES] [RUNS]
set -euo pipefail
devices=${1:-1000000}
runs=${2:-9}
bin=${BIN:-target/release/autopilot-tui}
out=$(mktemp)
start=$(date +%s.%N)
"$bin" serve --addr 127.0.0.1:0 --devices "$devices" --log-file /dev/null >"$out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; rm -f "$out"' EXIT
deadline=$((SECONDS + 30))
until grep -q '^listening on ' "$out"; do
  if ((SECONDS > deadline)); then echo "no listening line" >&2; exit 1; fi
  sleep 0.01
done
ready=$(date +%s.%N)
base=$(sed -n 's/^listening on //p' "$out" | head -1)
printf 'devices=%s startup_to_listening=%.3fs\n' "$devices" "$(echo "$ready - $start" | bc)"
url="$base/deviceManagement/importedWindowsAutopilotDeviceIdentities?\$top=999"
times=()
for _ in $(seq "$runs"); do
  times+=("$(curl -s -o /dev/null -H 'Authorization: Bearer x' -w '%{time_total}' "$url")")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "top=999 page: median=%.4fs min=%.4fs max=%.4fs (n=%d)\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
bytes=$(curl -s -H 'Authorization: Bearer x' "$url" | wc -c)
echo "page bytes=$bytes"
