#!/bin/sh
# User-mode traps under KVM (docs/kvm.md, "This KVM's departures"):
#  - krr run --accel kvm: a program takes INT3 and INT1 in loops, each
#    answered by its SIGTRAP handler; every one must arrive (on PVM a kick
#    can drop one, which krr must find and complete);
#  - krr record --accel kvm of the same program, replayed with --verify:
#    the replay prints what the recording printed, and the signal frames
#    kept bytes 416-463 of their FXSAVE image as the CPU does (krr traps the
#    kernel's FXSAVEs, which this PVM gets wrong).
# Skipped (exit 77) without a usable /dev/kvm.
# Usage: krr_user_traps_kvm_test.sh KRR WORKLOAD
set -u
krr=$1 workload=$2
. "$(dirname "$0")/kvm_test_lib.sh"
skip_without_kvm
require_default_kernel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# The program's own line, out of a console that also carries the kernel's.
result_line() {
    tr -d '\r' <"$1" | grep '^user traps: '
}

"$krr" run --accel kvm --debug --timeout 300 --file "$workload:/traps" -- /traps 4000 2000 \
    </dev/null >"$work/run.out" 2>"$work/run.err"
status=$?
line=$(result_line "$work/run.out")
expected="user traps: int3 4000 of 4000, int1 2000 of 2000;"
case $line in
"$expected"*) echo "ok: krr run --accel kvm: $line" ;;
*)
    echo "FAIL: krr run --accel kvm exited $status: ${line:-no result line}; $(tail -n 2 "$work/run.err")"
    fail=1
    ;;
esac
if [ -e /sys/module/kvm_pvm ]; then
    echo "ok: PVM: $(grep -o '[0-9]* of them traps a kick had dropped' "$work/run.err")"
fi

"$krr" record --accel kvm --timeout 300 -o "$work/trace" --file "$workload:/traps" -- /traps 1500 500 \
    </dev/null >"$work/rec.out" 2>"$work/rec.err"
status=$?
recorded=$(result_line "$work/rec.out")
expected="user traps: int3 1500 of 1500, int1 500 of 500; frames kept 2000, changed 0"
if [ "$status" -ne 0 ] || [ "$recorded" != "$expected" ]; then
    echo "FAIL: krr record --accel kvm exited $status: ${recorded:-no result line}; $(tail -n 2 "$work/rec.err")"
    fail=1
else
    echo "ok: recorded under KVM: $recorded"
    "$krr" replay --verify "$work/trace" >"$work/replay.out" 2>"$work/replay.err"
    status=$?
    replayed=$(result_line "$work/replay.out")
    if [ "$status" -ne 0 ] || [ "$replayed" != "$recorded" ]; then
        echo "FAIL: replay --verify exited $status, printed '${replayed:-nothing}'; $(tail -n 2 "$work/replay.err")"
        fail=1
    else
        echo "ok: replayed with --verify: $(tail -n 1 "$work/replay.err")"
    fi
fi
exit $fail
