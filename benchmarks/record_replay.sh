#!/bin/bash
# Record/replay cost on one workload (a busybox shell loop that keeps the CPU
# busy for a few hundred million instructions after boot). Baselines, in the
# same script: `krr run` of the same workload for the recording's overhead,
# and the recording for the replay. Prints medians and the two ratios, plus
# the trace's size per million recorded instructions.
# Usage: benchmarks/record_replay.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build="${1:-build}"
runs="${2:-3}"
krr="$build/krr"
[ -x "$krr" ] || { echo "record_replay: $krr not built" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
workload=(sh -c 'i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; echo $i')

now() { date +%s.%N; }
run_t=(); record_t=(); replay_t=()
for i in $(seq "$runs"); do
    t0=$(now)
    "$krr" run -- "${workload[@]}" >/dev/null
    t1=$(now)
    rm -rf "$work/trace"
    "$krr" record -o "$work/trace" -- "${workload[@]}" >/dev/null 2>"$work/record.err"
    t2=$(now)
    "$krr" replay --verify -q "$work/trace" 2>"$work/replay.err"
    t3=$(now)
    run_t+=("$(echo "$t1 - $t0" | bc -l)")
    record_t+=("$(echo "$t2 - $t1" | bc -l)")
    replay_t+=("$(echo "$t3 - $t2" | bc -l)")
    printf "run %d: krr run %.2f s, record %.2f s, replay --verify %.2f s\n" "$i" \
        "${run_t[-1]}" "${record_t[-1]}" "${replay_t[-1]}"
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mr=$(median "${run_t[@]}"); mc=$(median "${record_t[@]}"); mp=$(median "${replay_t[@]}")
recorded=$(sed -n 's/.*: \([0-9]*\) instructions, .*/\1/p' "$work/record.err" | tail -1)
bytes=$(du -sb "$work/trace" | cut -f1)
printf "median: run %.2f s, record %.2f s, replay %.2f s\n" "$mr" "$mc" "$mp"
printf "record/run = %.2f (boot included in both)\n" "$(echo "$mc / $mr" | bc -l)"
printf "replay/record = %.2f (replay starts at the snapshot; record also boots)\n" \
    "$(echo "$mp / $mc" | bc -l)"
printf "recorded %s instructions; trace %s bytes = %.1f KiB per million instructions\n" \
    "$recorded" "$bytes" "$(echo "$bytes / 1024 / ($recorded / 1000000)" | bc -l)"
