#!/bin/bash
# Several vCPUs recorded under KVM (issue 11): Linux boots with --smp 2 in
# the emulator, the machine goes to KVM when the command starts, and the
# vCPUs take turns on KVM's vCPU; each switch is logged with the leaving
# vCPU's state and found again by the resolve pass. The workload is the
# emulator test's (smp_race_workload.c: threads pinned to each CPU racing
# on memory, a futex lock, a pipe, a descriptor closed under a reader).
# COUNT recordings with --smp 2 and COUNT4 (may be 0) with --smp 4: each must replay
# with --verify (every vCPU's registers and memory at the end, the console)
# and print the recorded outcome; the counters must have run on every CPU;
# and the trace must hold vCPU switches. Without a writable /dev/kvm it says
# so and fails.
# Usage: smp_record_kvm_test.sh KRR WORKLOAD COUNT COUNT4
set -u
krr="$1"
workload="$2"
count="$3"
count4="$4"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
. "$(dirname "$0")/smp_race_lib.sh"
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

if [ ! -w /dev/kvm ]; then
    echo "FAIL: no writable /dev/kvm: recording under KVM cannot be tested here"
    exit 1
fi

record_and_replay() { # N COUNT
    local n="$1" total="$2" verified=0 i
    local expected_cpus
    expected_cpus=$(seq -s ' ' 0 $((n - 1)))
    for i in $(seq 1 "$total"); do
        trace="$work/kvm-smp$n-$i"
        start=$(date +%s.%N)
        "$krr" record --smp "$n" --accel kvm -o "$trace" --file "$workload:/smp_race" \
            -- /smp_race >"$work/rec.out" 2>"$work/rec.err"
        rc=$?
        record_seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
        smp_race_result "$work/rec.out"
        recorded=$outcome
        if [ $rc -ne 0 ] || [ -z "$recorded" ]; then
            fail "--smp $n recording $i: record exited $rc: $(tail -n 3 "$work/rec.out" "$work/rec.err")"
            continue
        fi
        if [ "$cpus" != "$expected_cpus" ]; then
            fail "--smp $n recording $i: the counters ran on CPUs '$cpus', not '$expected_cpus'"
        fi
        switches=$("$krr" info --inputs "$trace" 2>/dev/null | grep -c "vcpu-switch")
        start=$(date +%s.%N)
        replays_verified "$trace" "$recorded" "$work"
        verified_here=$?
        replay_seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
        if [ "$verified_here" -eq 0 ] && [ "$switches" -gt 0 ]; then
            verified=$((verified + 1))
            pass "--smp $n recording $i: $switches vCPU switches; recorded in $record_seconds s, resolved and replayed verified in $replay_seconds s: $recorded"
        else
            fail "--smp $n recording $i: replay (rc $replay_rc, $switches switches): $(tail -n 3 "$work/rep.err"); recorded '$recorded', replayed '$replayed'"
        fi
    done
    if [ "$verified" -eq "$total" ]; then
        pass "--smp $n --accel kvm: $verified of $total recordings replayed verified with the recorded outcome"
    else
        fail "--smp $n --accel kvm: only $verified of $total recordings replayed verified"
    fi
}

record_and_replay 2 "$count"
if [ "$count4" -gt 0 ]; then
    record_and_replay 4 "$count4"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
