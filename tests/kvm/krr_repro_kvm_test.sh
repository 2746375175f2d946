#!/bin/sh
# krr repro --accel kvm (issue 9's KVM part): a bug sample's reproducer is
# recorded under KVM (the guest boots in the emulator), the crashing trace
# is resolved and replayed with verification, and the crash line is printed
# at the same instruction count in the recording and the replay.
# Skipped (exit 77) without a usable /dev/kvm.
# Usage: krr_repro_kvm_test.sh KRR SAMPLES_DIR
set -u
krr=$1 samples=$2
. "$(dirname "$0")/kvm_test_lib.sh"
skip_without_kvm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
"$krr" repro --accel kvm -o "$work/trace" "$samples/buf-double-free" >"$work/out" 2>"$work/err"
status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: krr repro --accel kvm exited $status: $(tail -n 5 "$work/err")"
    fail=1
fi
for expected in "SLUB: double-free in krr_bugs_release" "(recorded under KVM)" \
    "verified in" "in both"; do
    if grep -qF "$expected" "$work/out"; then
        echo "ok: the report says: $(grep -F "$expected" "$work/out" | head -n 1)"
    else
        echo "FAIL: the report lacks '$expected':"
        cat "$work/out"
        fail=1
    fi
done
if [ "$("$krr" info "$work/trace" | awk '$1 == "accelerator:" { print $2 }')" != kvm ]; then
    echo "FAIL: the trace does not say it was recorded under KVM"
    fail=1
fi
msg=$("$krr" repro --accel kvm --seed 3 -o "$work/unused" "$samples/buf-double-free" 2>&1)
case $msg in
*"--seed"*"under KVM"*) echo "ok: --seed under KVM is refused: $msg" ;;
*) echo "FAIL: --seed under KVM said: $msg"; fail=1 ;;
esac
exit $fail
