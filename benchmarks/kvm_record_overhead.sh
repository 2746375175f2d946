#!/bin/bash
# The cost of recording under KVM (issue 7) on the micro-guest
# (tests/kvm/micro_guest: 80 ticks of a 1 kHz PIT, spins, halts, user mode).
# Baseline, in the same script: `krr run --accel kvm --boot flat` of the same
# image, unrecorded. RUNS unrecorded and RUNS recorded runs, interleaved;
# prints the median wall time of each and recorded/unrecorded, the exits per
# second by kind of both (from --stats: the recorded line adds the
# recording's own work, TSC reads and positions), the trace size, and the
# median `krr resolve` and `krr replay --verify` times over the recordings,
# each against the recorded run's time. Fails if any recording does not
# replay with --verify.
# --linux also times, once each, Linux running a short command under
# `krr run --accel kvm` (the baseline), `krr record --accel kvm` and
# `krr record` in the emulator; Linux boots in the emulator in all three
# (about 8-12 s here), so they differ only after the command starts.
# Usage: benchmarks/kvm_record_overhead.sh BUILD_DIR [RUNS] [--linux]
set -euo pipefail
linux=false
positional=()
for arg in "$@"; do
    case "$arg" in
    --linux) linux=true ;;
    -*)
        echo "usage: $0 BUILD_DIR [RUNS] [--linux]" >&2
        exit 2
        ;;
    *) positional+=("$arg") ;;
    esac
done
[ "${#positional[@]}" -ge 1 ] || { echo "usage: $0 BUILD_DIR [RUNS] [--linux]" >&2 && exit 2; }
build="${positional[0]}"
runs="${positional[1]:-5}"
krr="$build/krr"
image="$build/tests/kvm/micro_guest.bin"
# Without the map next to the image nothing is trapped: the guest's RDTSC
# reads the host's TSC unlogged and the recording cannot be resolved.
symbols="$build/tests/kvm/micro_guest.map"
for f in "$krr" "$image" "$symbols"; do
    [ -e "$f" ] || {
        echo "kvm_record_overhead: $f not built (ninja -C $build krr tests/kvm/micro_guest.bin tests/kvm/micro_guest.map)" >&2
        exit 1
    }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flat=(--accel kvm --boot flat --kernel "$image")

timed() { # ERR_FILE COMMAND...: prints the wall seconds; fails as COMMAND does
    local err="$1" start status=0
    shift
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$err" || status=$?
    awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.3f\n", a - b }'
    return "$status"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
exits() { # ERR_FILE: one "kind<TAB>per second<TAB>count" line per kind, in krr's order
    sed -n 's/.*exits per second (count): //p' "$1" | tail -1 | tr ',' '\n' |
        sed -E 's/^ *(.*) ([0-9]+) \(([0-9]+)\)$/\1\t\2\t\3/'
}
exit_table() { # PREFIX_A LABEL_A PREFIX_B LABEL_B: median exits/s (count) by kind of two sets of runs
    local a="$1" b="$3" kind first=("$work/$1".exits.*)
    printf "  %-22s %22s %22s\n" "exits per second" "$2" "$4"
    cut -f1 "${first[0]}" | while IFS= read -r kind; do
        printf "  %-22s" "$kind"
        for set in "$a" "$b"; do
            printf " %13.0f (%6.0f)" \
                "$(awk -F'\t' -v k="$kind" '$1 == k { print $2 }' "$work/$set".exits.* | median)" \
                "$(awk -F'\t' -v k="$kind" '$1 == k { print $3 }' "$work/$set".exits.* | median)"
        done
        printf "\n"
    done
    printf "  (medians over the runs; count in parentheses; per second of the run as --stats times it)\n"
}
fail() {
    echo "kvm_record_overhead: $*" >&2
    exit 1
}

echo "micro-guest under KVM, $runs runs each, interleaved (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
: >"$work/run.s" && : >"$work/record.s" && : >"$work/kvm_run.s" && : >"$work/kvm_record.s"
for i in $(seq "$runs"); do
    t_run=$(timed "$work/run.err" "$krr" run "${flat[@]}" --stats) ||
        fail "krr run failed: $(tail -3 "$work/run.err")"
    t_rec=$(timed "$work/record.err.$i" "$krr" record "${flat[@]}" --stats -o "$work/trace$i") ||
        fail "krr record failed: $(tail -3 "$work/record.err.$i")"
    grep -q "command exited" "$work/record.err.$i" || fail "recording $i: $(tail -1 "$work/record.err.$i")"
    exits "$work/run.err" >"$work/run.exits.$i"
    exits "$work/record.err.$i" >"$work/record.exits.$i"
    echo "$t_run" >>"$work/run.s" && echo "$t_rec" >>"$work/record.s"
    sed -n 's/.*: \([0-9.]*\) s under KVM.*/\1/p' "$work/run.err" >>"$work/kvm_run.s"
    sed -n 's/.*: \([0-9.]*\) s under KVM.*/\1/p' "$work/record.err.$i" >>"$work/kvm_record.s"
    printf "run %d: krr run %.3f s, krr record %.3f s\n" "$i" "$t_run" "$t_rec"
done
run_s=$(median <"$work/run.s")
record_s=$(median <"$work/record.s")
printf "median wall time: unrecorded (baseline, krr run) %.3f s, recorded (krr record) %.3f s\n" "$run_s" "$record_s"
# --stats times the run itself: not the process start, nor (recording a
# flat image) the snapshot before it and the trace's end after it.
printf "recorded/unrecorded = %s; the runs alone (--stats): %.3f s / %.3f s = %s\n" \
    "$(ratio "$record_s" "$run_s")" "$(median <"$work/kvm_record.s")" \
    "$(median <"$work/kvm_run.s")" \
    "$(ratio "$(median <"$work/kvm_record.s")" "$(median <"$work/kvm_run.s")")"
exit_table run "unrecorded" record "recorded"

# The trace as recorded, then resolved (which adds the positions file) and
# replayed: replay finds the positions stored and does not resolve again.
: >"$work/bytes" && : >"$work/resolved_instructions" && : >"$work/resolved_bytes" && : >"$work/inputs" && : >"$work/resolve.s" && : >"$work/replay.s"
failed=0
for i in $(seq "$runs"); do
    du -sb "$work/trace$i" | cut -f1 >>"$work/bytes"
    sed -n 's/.* \([0-9]*\) inputs, .*/\1/p' "$work/record.err.$i" >>"$work/inputs"
    if t=$(timed "$work/resolve.err" "$krr" resolve "$work/trace$i"); then
        echo "$t" >>"$work/resolve.s"
        sed -n 's/.* over \([0-9]*\) instructions.*/\1/p' "$work/resolve.err" >>"$work/resolved_instructions"
        du -sb "$work/trace$i" | cut -f1 >>"$work/resolved_bytes"
    else
        echo "recording $i does not resolve: $(tail -1 "$work/resolve.err")"
        failed=$((failed + 1))
        continue
    fi
    if t=$(timed "$work/replay.err" "$krr" replay --verify -q "$work/trace$i"); then
        echo "$t" >>"$work/replay.s"
    else
        echo "recording $i does not replay with --verify: $(tail -1 "$work/replay.err")"
        failed=$((failed + 1))
    fi
done
bytes=$(median <"$work/bytes")
printf "trace: %.0f bytes per recording (median; %s inputs), %s bytes once resolved\n" \
    "$bytes" "$(median <"$work/inputs")" "$(if [ -s "$work/resolved_bytes" ]; then median <"$work/resolved_bytes"; else echo '?'; fi)"
if [ -s "$work/resolve.s" ]; then
    resolve_s=$(median <"$work/resolve.s")
    # What it re-executes is what ran under KVM, mostly the user-mode spin
    # (native there): its length varies with the host's speed.
    printf "krr resolve: %.3f s (median; %s instructions re-executed) = %s x the recorded run\n" \
        "$resolve_s" "$(median <"$work/resolved_instructions")" "$(ratio "$resolve_s" "$record_s")"
fi
if [ -s "$work/replay.s" ]; then
    replay_s=$(median <"$work/replay.s")
    printf "krr replay --verify (resolved): %.3f s (median) = %s x the recorded run\n" \
        "$replay_s" "$(ratio "$replay_s" "$record_s")"
fi
[ "$failed" -eq 0 ] || fail "$failed of $runs recordings do not replay with --verify"
echo "all $runs recordings replay with --verify"

if $linux; then
    command=(/bin/sh -c 'echo one | cat; sleep 1; echo two')
    echo
    echo "Linux: ${command[*]} (one run each; boot in the emulator included in all three)"
    t_run=$(timed "$work/linux_run.err" "$krr" run --accel kvm --stats -- "${command[@]}") ||
        fail "Linux krr run --accel kvm failed: $(tail -3 "$work/linux_run.err")"
    t_kvm=$(timed "$work/linux_kvm.err" "$krr" record --accel kvm --stats -o "$work/linux_kvm" \
        -- "${command[@]}") || fail "Linux krr record --accel kvm failed: $(tail -3 "$work/linux_kvm.err")"
    t_emu=$(timed "$work/linux_emu.err" "$krr" record --stats -o "$work/linux_emu" \
        -- "${command[@]}") || fail "Linux krr record failed: $(tail -3 "$work/linux_emu.err")"
    printf "  krr run --accel kvm (baseline) %.2f s, krr record --accel kvm %.2f s, krr record (emulator) %.2f s\n" \
        "$t_run" "$t_kvm" "$t_emu"
    printf "  record --accel kvm / run --accel kvm = %s, record --accel kvm / record (emulator) = %s\n" \
        "$(ratio "$t_kvm" "$t_run")" "$(ratio "$t_kvm" "$t_emu")"
    exits "$work/linux_run.err" >"$work/linux_run.exits.1"
    exits "$work/linux_kvm.err" >"$work/linux_kvm.exits.1"
    exit_table linux_run "run --accel kvm" linux_kvm "record --accel kvm"
    printf "  traces: under KVM %s bytes, %s inputs; emulator %s bytes, %s inputs\n" \
        "$(du -sb "$work/linux_kvm" | cut -f1)" \
        "$(sed -n 's/.* \([0-9]*\) inputs, .*/\1/p' "$work/linux_kvm.err")" \
        "$(du -sb "$work/linux_emu" | cut -f1)" \
        "$(sed -n 's/.* \([0-9]*\) inputs, .*/\1/p' "$work/linux_emu.err")"
    t_resolve=$(timed "$work/linux_resolve.err" "$krr" resolve "$work/linux_kvm") ||
        fail "the Linux recording under KVM does not resolve: $(tail -1 "$work/linux_resolve.err")"
    t_replay=$(timed "$work/linux_replay.err" "$krr" replay --verify -q "$work/linux_kvm") ||
        fail "the Linux recording under KVM does not replay with --verify: $(tail -1 "$work/linux_replay.err")"
    printf "  its krr resolve %.2f s, krr replay --verify %.2f s (both from the command's start)\n" \
        "$t_resolve" "$t_replay"
fi
