#!/bin/bash
# Recording and replaying several vCPUs under the emulator (issue 11): a
# workload of threads pinned to different CPUs racing on shared memory, a
# futex lock, a pipe and a descriptor closed under a reader
# (smp_race_workload.c), recorded with --smp 2 and --smp 4 under COUNT seeds
# each. Every recording must replay with --verify (state hashes of every vCPU
# and memory, and the console) and print the recorded outcome again; the
# counters must have run on every CPU; and the seeds must give more than one
# outcome (they vary the interleaving). krr timeline puts each event on its
# vCPU. Then `krr repro --smp 2` on the
# racy samples: each crashes, replays verified, and the trace replays again.
# krr-tui (in tmux) names each row's vCPU and the detail's. A copy whose
# final state hash says another R15 for vCPU 2 fails --verify naming vCPU 2.
# Usage: smp_record_test.sh KRR WORKLOAD COUNT SAMPLES_DIR KRR_TUI MUTATE
set -u
krr="$1"
workload="$2"
count="$3"
samples="$4"
tui="$5"
mutate="$6"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
. "$(dirname "$0")/smp_race_lib.sh"
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for n in 2 4; do
    expected_cpus=$(seq -s ' ' 0 $((n - 1)))
    verified=0
    : >"$work/outcomes$n"
    record_seconds=0
    for seed in $(seq 1 "$count"); do
        trace="$work/smp$n-$seed"
        start=$(date +%s.%N)
        "$krr" record --smp "$n" --seed "$seed" -o "$trace" --file "$workload:/smp_race" \
            -- /smp_race >"$work/rec.out" 2>"$work/rec.err"
        rc=$?
        record_seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" -v t="$record_seconds" \
            'BEGIN { printf "%.1f", t + a - b }')
        smp_race_result "$work/rec.out"
        recorded=$outcome
        if [ $rc -ne 0 ] || [ -z "$recorded" ]; then
            fail "--smp $n seed $seed: record exited $rc: $(tail -n 2 "$work/rec.out" "$work/rec.err")"
            continue
        fi
        if [ "$cpus" != "$expected_cpus" ]; then
            fail "--smp $n seed $seed: the counters ran on CPUs '$cpus', not '$expected_cpus'"
        fi
        if replays_verified "$trace" "$recorded" "$work"; then
            verified=$((verified + 1))
            echo "$recorded" >>"$work/outcomes$n"
        else
            fail "--smp $n seed $seed: replay (rc $replay_rc): $(tail -n 3 "$work/rep.err"); recorded '$recorded', replayed '$replayed'"
        fi
    done
    distinct=$(sort -u "$work/outcomes$n" | wc -l)
    if [ "$verified" -eq "$count" ]; then
        pass "--smp $n: $verified of $count recordings replayed verified with the recorded outcome (recording took $record_seconds s in all)"
    else
        fail "--smp $n: only $verified of $count recordings replayed verified"
    fi
    if [ "$distinct" -ge 2 ]; then
        pass "--smp $n: the seeds gave $distinct different outcomes"
    else
        fail "--smp $n: every seed gave the same outcome: $(head -1 "$work/outcomes$n")"
    fi
done

# krr timeline says which vCPU each event happened on. The kernel's own
# per-CPU threads are the oracle: swapper/N and migration/N only ever run on
# CPU N.
"$krr" timeline "$work/smp4-1" --kind switch >"$work/timeline.out" 2>"$work/timeline.err"
pinned=$(grep -cE ' switch to (swapper|migration)/[0-9]+\[' "$work/timeline.out")
misplaced=$(awk '{ if (match($0, /switch to (swapper|migration)\/[0-9]+\[/)) {
        name = substr($0, RSTART, RLENGTH); sub(/.*\//, "", name); sub(/\[/, "", name);
        if ($2 != "cpu" name) print } }' "$work/timeline.out" | wc -l)
cpus_seen=$(awk '{print $2}' "$work/timeline.out" | sort -u | tr '\n' ' ')
if [ "$pinned" -gt 0 ] && [ "$misplaced" -eq 0 ] && [ "$cpus_seen" = "cpu0 cpu1 cpu2 cpu3 " ]; then
    pass "krr timeline: switches on $cpus_seen; all $pinned switches to swapper/N or migration/N are on cpuN"
else
    fail "krr timeline: $pinned per-CPU thread switches, $misplaced on another CPU, CPUs '$cpus_seen': $(head -3 "$work/timeline.out" "$work/timeline.err")"
fi

# A divergence in a vCPU that was not running at the end is reported as
# that vCPU's (the state hash keeps every vCPU's state).
if "$mutate" "$work/smp4-1" "$work/smp4-1-changed" vcpu-state 2 >"$work/mutate.out" 2>&1; then
    "$krr" replay --verify -q "$work/smp4-1-changed" >/dev/null 2>"$work/changed.err"
    rc=$?
    if [ $rc -eq 4 ] && grep -q "^   vCPU 2:" "$work/changed.err" &&
        grep -q "r15: recorded" "$work/changed.err"; then
        pass "a final state differing in vCPU 2's r15 fails --verify naming it: $(grep -A1 '^   vCPU 2:' "$work/changed.err" | tail -1 | sed 's/^ *//')"
    else
        fail "vCPU 2's changed r15 (rc $rc): $(head -8 "$work/changed.err")"
    fi
else
    fail "trace_mutate vcpu-state: $(cat "$work/mutate.out")"
fi

socket=krr-smp-tui-$$
tmux -L "$socket" -f /dev/null new-session -d -s tui -x 100 -y 30 "$tui $work/smp4-1" 2>/dev/null
tui_screen=
for _ in $(seq 300); do
    tui_screen=$(tmux -L "$socket" capture-pane -p -t tui 2>/dev/null)
    grep -q '^-- detail (count .*, vCPU [0-9])' <<<"$tui_screen" && break
    sleep 0.2
done
tmux -L "$socket" kill-server 2>/dev/null
rows=$(grep -cE '^[> ] +[0-9]+ cpu[0-3] ' <<<"$tui_screen")
selected_cpu=$(sed -n 's/^> *[0-9]* cpu\([0-9]\) .*/\1/p' <<<"$tui_screen")
detail_cpu=$(sed -n 's/^-- detail (count .*, vCPU \([0-9]\)).*/\1/p' <<<"$tui_screen")
if [ "$rows" -gt 5 ] && [ -n "$selected_cpu" ] && [ "$selected_cpu" = "$detail_cpu" ]; then
    pass "krr-tui: $rows rows name their vCPU; the selected one's (cpu$selected_cpu) is the detail's"
else
    fail "krr-tui: $rows rows with a vCPU, selected cpu '$selected_cpu', detail vCPU '$detail_cpu': $(head -12 <<<"$tui_screen")"
fi

for sample in session-uaf-race link-abba-deadlock; do
    "$krr" repro --smp 2 "$samples/$sample" -o "$work/repro-$sample" >"$work/repro.out" 2>"$work/repro.err"
    rc=$?
    title=$(sed -n 's/^title: //p' "$samples/$sample/bug.conf")
    if [ $rc -eq 0 ] && grep -qF "$title" "$work/repro.out" &&
        "$krr" replay --verify "$work/repro-$sample" >/dev/null 2>"$work/replay.err" &&
        grep -q "state hashes verified" "$work/replay.err"; then
        pass "krr repro --smp 2 $sample: '$title', $(grep -o 'attempts: *[0-9]*' "$work/repro.out"), replays verified"
    else
        fail "krr repro --smp 2 $sample (rc $rc): $(tail -n 3 "$work/repro.out" "$work/repro.err" "$work/replay.err" 2>/dev/null)"
    fi
done

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
