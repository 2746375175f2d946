#!/bin/bash
# Reverse execution latency on a recording of more than a billion
# instructions (issue 8): records benchmarks/reverse_workload (getpid every
# hundred million instructions), then runs build/benchmarks/reverse_latency,
# which prints reverse-stepi and reverse-continue latencies against the
# forward replay of the same distance as baseline.
# Usage: benchmarks/reverse_latency.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
krr="$build/krr"
tool="$build/benchmarks/reverse_latency"
workload="$build/benchmarks/reverse_workload"
for f in "$krr" "$tool" "$workload"; do
    [ -x "$f" ] || { echo "reverse_latency: $f not built" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s.%N)
"$krr" record -o "$work/trace" --file "$workload:/w" -- /w >/dev/null 2>"$work/record.err"
printf "recorded in %.1f s: %s\n" "$(echo "$(date +%s.%N) - $start" | bc -l)" \
    "$(tail -1 "$work/record.err")"
"$tool" "$work/trace" __x64_sys_getpid
