#!/bin/bash
# The cost of recording several vCPUs (issue 11): the same workload
# (tests/e2e/smp_race_workload, 20 runs in a row) recorded under the emulator
# with --smp 1 (the baseline) and --smp 2. The boot is not recorded, so each
# configuration's boot (`krr run --smp N -- true`) is timed too and taken
# off; medians of REPS runs. Prints the recorded instructions, inputs, log
# bytes, seconds and MIPS of each, and the ratio of --smp 2 to --smp 1.
# Usage: benchmarks/smp_record_cost.sh [BUILD_DIR] [REPS]
set -euo pipefail
build="${1:-build}"
reps="${2:-3}"
krr="$build/krr"
workload="$build/tests/e2e/smp_race_workload"
for f in "$krr" "$workload"; do
    [ -x "$f" ] || { echo "smp_record_cost: $f not built" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command='for i in $(seq 20); do /w >/dev/null; done'

seconds() { # COMMAND...: wall seconds
    local start
    start=$(date +%s.%N)
    "$@" >/dev/null 2>>"$work/err"
    awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.3f\n", a - b }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A recorded_seconds instructions inputs bytes
for n in 1 2; do
    : >"$work/boot$n" && : >"$work/rec$n"
    for r in $(seq "$reps"); do
        seconds "$krr" run --smp "$n" -- true >>"$work/boot$n"
        rm -rf "$work/t$n"
        seconds "$krr" record --smp "$n" --seed 1 -o "$work/t$n" --file "$workload:/w" \
            -- sh -c "$command" >>"$work/rec$n"
    done
    boot=$(median <"$work/boot$n")
    rec=$(median <"$work/rec$n")
    recorded_seconds[$n]=$(awk -v a="$rec" -v b="$boot" 'BEGIN { printf "%.3f", a - b }')
    summary=$(grep "krr: record: $work/t$n:" "$work/err" | tail -1)
    instructions[$n]=$(sed -n 's/.*: \([0-9]*\) instructions.*/\1/p' <<<"$summary")
    inputs[$n]=$(sed -n 's/.* \([0-9]*\) inputs.*/\1/p' <<<"$summary")
    bytes[$n]=$(sed -n 's/.* \([0-9]*\) log bytes.*/\1/p' <<<"$summary")
    printf -- "--smp %s: boot %.2f s, record %.2f s: %s instructions recorded in %s s (%.0f MIPS), %s inputs, %s log bytes\n" \
        "$n" "$boot" "$rec" "${instructions[$n]}" "${recorded_seconds[$n]}" \
        "$(awk -v i="${instructions[$n]}" -v s="${recorded_seconds[$n]}" 'BEGIN { print i / s / 1e6 }')" \
        "${inputs[$n]}" "${bytes[$n]}"
done
awk -v s1="${recorded_seconds[1]}" -v s2="${recorded_seconds[2]}" \
    -v i1="${instructions[1]}" -v i2="${instructions[2]}" \
    -v b1="${bytes[1]}" -v b2="${bytes[2]}" 'BEGIN {
    printf "--smp 2 over --smp 1 (baseline): %.2fx the recording time, %.2fx the time per recorded instruction, %.2fx the log bytes per instruction\n",
        s2 / s1, (s2 / i2) / (s1 / i1), (b2 / i2) / (b1 / i1) }'
