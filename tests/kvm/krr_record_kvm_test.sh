#!/bin/sh
# Recording under KVM (issue 7, docs/kvm.md "Recording under KVM"):
#  - the micro-guest recorded under KVM N times, each replayed in the
#    emulator with --verify (positions resolved on first replay), with timer
#    interrupts landing inside its spin loop (registers repeat while a
#    counter in memory moves: the case positions hash memory for);
#  - Linux, booted in the emulator and recorded under KVM, running a static
#    program (system calls, a pipe, fork, a sleep, a loop), M times, each
#    replayed with --verify and printing what the recording printed;
#  - a TSC read krr does not trap (the image's symbols withheld) makes
#    --verify fail instead of passing;
#  - a damaged positions file is made again; bad input to krr resolve fails.
# Skipped (exit 77) without a usable /dev/kvm.
# Usage: krr_record_kvm_test.sh KRR MICRO_GUEST_BIN MICRO_GUEST_MAP WORKLOAD N M
set -u
krr=$1 image=$2 map=$3 workload=$4 micro_runs=$5 linux_runs=$6
. "$(dirname "$0")/kvm_test_lib.sh"
skip_without_kvm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
# The recorder finds the image's symbols beside it (IMAGE.map).
cp "$image" "$work/micro_guest.bin"
cp "$map" "$work/micro_guest.map"

# The spin loop's address range, from the map: [spin_until_tick, next symbol).
loop_start=$(awk '$3 == "spin_until_tick" { print $1 }' "$map")
loop_end=$(sort "$map" | awk -v s="$loop_start" 'found { print $1; exit } $1 == s { found = 1 }')
if [ -z "$loop_start" ] || [ -z "$loop_end" ]; then
    echo "FAIL: spin_until_tick is not in $map"
    exit 1
fi

# interrupts_in_loop TRACE: how many interrupts the trace has inside the loop.
interrupts_in_loop() {
    lo=$((0x$loop_start)) hi=$((0x$loop_end)) n=0
    "$krr" info --inputs "$1" >"$work/inputs"
    while read -r _ _ _ rip kind _; do
        if [ "$kind" = interrupt ] && [ $((rip)) -ge "$lo" ] && [ $((rip)) -lt "$hi" ]; then
            n=$((n + 1))
        fi
    done <"$work/inputs"
    echo "$n"
}

micro_ok=0 in_loop_total=0
i=1
while [ "$i" -le "$micro_runs" ]; do
    t="$work/micro$i"
    rm -rf "$t"
    if ! "$krr" record --accel kvm --boot flat --kernel "$work/micro_guest.bin" -o "$t" \
        >"$work/rec.out" 2>"$work/rec.err" </dev/null; then
        echo "FAIL: micro-guest recording $i: $(tail -n 3 "$work/rec.err")"
        fail=1
    elif ! grep -qx done "$work/rec.out"; then
        echo "FAIL: micro-guest recording $i did not finish: $(tail -n 2 "$work/rec.out")"
        fail=1
    elif ! "$krr" replay --verify "$t" >"$work/rep.out" 2>"$work/rep.err"; then
        echo "FAIL: micro-guest recording $i does not replay: $(tail -n 4 "$work/rep.err")"
        fail=1
    elif ! cmp -s "$work/rec.out" "$work/rep.out"; then
        echo "FAIL: micro-guest recording $i replays another console"
        fail=1
    else
        n=$(interrupts_in_loop "$t")
        in_loop_total=$((in_loop_total + n))
        if [ "$n" -eq 0 ]; then
            echo "FAIL: micro-guest recording $i has no interrupt inside the spin loop"
            fail=1
        else
            micro_ok=$((micro_ok + 1))
        fi
    fi
    i=$((i + 1))
done
echo "micro-guest: $micro_ok of $micro_runs recordings under KVM replayed with --verify;" \
    "$in_loop_total interrupts landed inside the spin loop"
[ "$micro_ok" -eq "$micro_runs" ] || fail=1

# A TSC read krr does not trap: without the map the image's RDTSCs read the
# host's TSC, which the log does not have, and verification must say so.
mkdir "$work/nomap"
cp "$image" "$work/nomap/micro_guest.bin"
"$krr" record --accel kvm --boot flat --kernel "$work/nomap/micro_guest.bin" -o "$work/untrapped" \
    >/dev/null 2>&1 </dev/null
if "$krr" replay --verify -q "$work/untrapped" >/dev/null 2>"$work/untrapped.err"; then
    echo "FAIL: a recording with untrapped TSC reads passed --verify"
    fail=1
elif grep -q "rdtsc" "$work/untrapped.err"; then
    echo "ok: untrapped TSC reads fail verification: $(tail -n 1 "$work/untrapped.err" | cut -c1-160)"
else
    echo "FAIL: the untrapped recording failed without naming the TSC read: $(tail -n 2 "$work/untrapped.err")"
    fail=1
fi

# A damaged positions file is made again; krr resolve refuses bad input.
printf 'garbage' >"$work/micro1/positions"
if "$krr" replay --verify -q "$work/micro1" >/dev/null 2>&1; then
    echo "ok: a damaged positions file was resolved again"
else
    echo "FAIL: a damaged positions file broke the replay"
    fail=1
fi
msg=$("$krr" resolve "$work/no-such-trace" 2>&1)
status=$?
case "$status:$msg" in
[1-9]*"krr: resolve"*) echo "ok: krr resolve on a missing trace: $msg" ;;
*) echo "FAIL: krr resolve on a missing trace: status $status: $msg"; fail=1 ;;
esac

# Linux: booted in the emulator, recorded under KVM from the command on.
require_default_kernel
linux_ok=0
i=1
while [ "$i" -le "$linux_runs" ]; do
    t="$work/linux$i"
    start=$(date +%s)
    if ! "$krr" record --accel kvm --timeout 300 --file "$workload:/w" -o "$t" -- /w \
        >"$work/rec.out" 2>"$work/rec.err" </dev/null; then
        echo "FAIL: Linux recording $i: $(tail -n 3 "$work/rec.err")"
        fail=1
        i=$((i + 1))
        continue
    fi
    recorded=$(($(date +%s) - start))
    tr -d '\r' <"$work/rec.out" | grep '^workload: ' >"$work/rec.lines"
    start=$(date +%s)
    if ! "$krr" replay --verify "$t" >"$work/rep.out" 2>"$work/rep.err"; then
        echo "FAIL: Linux recording $i does not replay: $(tail -n 4 "$work/rep.err")"
        fail=1
    else
        replayed=$(($(date +%s) - start))
        tr -d '\r' <"$work/rep.out" | grep '^workload: ' >"$work/rep.lines"
        if [ "$(wc -l <"$work/rec.lines")" -ne 4 ] || ! cmp -s "$work/rec.lines" "$work/rep.lines"; then
            echo "FAIL: Linux recording $i: the workload printed $(cat "$work/rec.lines"), replayed $(cat "$work/rep.lines")"
            fail=1
        else
            inputs=$("$krr" info "$t" | awk '$1 == "inputs:" { print }')
            echo "ok: Linux recording $i: recorded in ${recorded} s, replayed with --verify in ${replayed} s; $inputs"
            linux_ok=$((linux_ok + 1))
        fi
    fi
    i=$((i + 1))
done
echo "Linux: $linux_ok of $linux_runs recordings under KVM replayed with --verify"
[ "$linux_ok" -eq "$linux_runs" ] || fail=1
exit $fail
