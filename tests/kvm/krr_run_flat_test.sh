#!/bin/sh
# krr run --boot flat: the micro-guest under the emulator and under KVM
# prints the expected console and exits 0 on both. Without a usable
# /dev/kvm the KVM half is skipped with a message (exit 77 if nothing ran).
set -u
krr=$1
image=$2
expected='krr micro-guest
control device: present
rtc year register: 0x25
exceptions: int3 1, ud2 1
local apic svr: 0x1ff
spin: reached tick 20, counter moved
halt: reached tick 40, tsc advanced
spin again: reached tick 60, counter moved
syscall: lstar reads back as written
user mode: syscall 42 from cs 0x33, handler cs 0x10
user mode: #gp from cs 0x33 error 0x0, #pf at 0x100000000 error 0x4, int 0x80 from cs 0x33, int3 from cs 0x33
user mode: timer interrupts from cs 0x33, counter moved
done'
fail=0
check() {
    accel=$1
    out=$("$krr" run --accel "$accel" --boot flat --kernel "$image" --timeout 60 </dev/null)
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL: --accel $accel exited $status"
        fail=1
    fi
    if [ "$out" != "$expected" ]; then
        echo "FAIL: --accel $accel printed:"
        echo "$out"
        fail=1
    else
        echo "ok: --accel $accel"
    fi
}
check tcg
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    check kvm
    stats=$("$krr" run --accel kvm --boot flat --kernel "$image" --stats 2>&1 >/dev/null </dev/null)
    case $stats in
    *"under KVM; exits per second (count): port read "*"hlt "*"interrupts injected "*)
        echo "ok: --stats under KVM: $stats" ;;
    *) echo "FAIL: --stats under KVM said: $stats"; fail=1 ;;
    esac
else
    echo "SKIPPED: --accel kvm: /dev/kvm is not usable here"
fi
# A flat image is recorded under KVM only (the emulator records Linux).
unused_trace=$(mktemp -u /tmp/krr-flat-unused.XXXXXX)
msg=$("$krr" record -o "$unused_trace" --boot flat --kernel "$image" 2>&1)
case $msg in
*"a flat image is recorded under KVM only"*) echo "ok: flat recording under the emulator refused" ;;
*) echo "FAIL: flat recording under the emulator said: $msg"; fail=1 ;;
esac
if [ -e "$unused_trace" ]; then
    echo "FAIL: the refused recording left a trace directory"
    rm -rf "$unused_trace"
    fail=1
fi
msg=$("$krr" run --boot flat 2>&1)
case $msg in
*"--boot flat needs the image as --kernel PATH"*) echo "ok: --boot flat without an image" ;;
*) echo "FAIL: --boot flat without an image said: $msg"; fail=1 ;;
esac
exit $fail
