#!/bin/sh
# krr run --accel kvm with Linux: boots in the emulator, hands the machine to
# KVM when the command starts, and the command (system calls, page faults,
# a pipe, fork and exec) runs to its end under KVM. On PVM (docs/kvm.md,
# "This host's KVM") krr completes every entry to the kernel from user
# mode, so the run must also say that it completed some. Skipped (exit 77)
# without a usable /dev/kvm. Usage: krr_run_linux_kvm_test.sh KRR
set -u
krr=$1
. "$(dirname "$0")/kvm_test_lib.sh"
skip_without_kvm
require_default_kernel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

"$krr" run --accel kvm --debug --timeout 120 -- /bin/sh -c 'echo one | cat; echo two' \
    </dev/null >"$work/out" 2>"$work/err"
status=$?
if [ "$status" -ne 0 ]; then
    echo "FAIL: exited $status: $(tail -n 3 "$work/out" "$work/err")"
    fail=1
fi
# The console also carries kernel messages: keep the command's lines.
lines=$(tr -d '\r' <"$work/out" | grep -x 'one\|two' | tr '\n' ' ')
if [ "$lines" = "one two " ]; then
    echo "ok: the command printed one, two under KVM"
else
    echo "FAIL: the command printed: $lines"
    fail=1
fi
if [ -e /sys/module/kvm_pvm ]; then
    completed=$(grep -o 'krr completed [0-9]* SYSCALLs and [0-9]* exceptions' "$work/err")
    case $completed in
    "krr completed 0 "* | "") echo "FAIL: PVM, but krr completed no entries: $(grep PVM "$work/err")"; fail=1 ;;
    *) echo "ok: PVM: $completed" ;;
    esac
fi
exit $fail
