#!/bin/bash
# Several vCPUs under the emulator (issue 11, docs/smp.md): Linux brings up
# the secondary CPUs through INIT/STARTUP and their real-mode trampoline, and
# runs a task on each. The facts checked come from the guest kernel itself
# (its boot messages, nproc, the CPU /proc/self/stat says a pinned task ran
# on). Under KVM (booted in the emulator, handed over at the command) the
# vCPUs take turns on KVM's one vCPU: the probe must see every CPU there too
# (recording them under KVM: smp_record_kvm_test.sh).
# Usage: smp_run_test.sh KRR
set -u
krr="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

cache="${KRR_CACHE:-$HOME/.cache/krr}"
if [ ! -e "$cache/kernels/default/vmlinuz" ]; then
    echo "FAIL: no default guest kernel in $cache; run ./scripts/setup"
    exit 1
fi

# Field 39 of /proc/self/stat is the CPU the task last ran on.
# The final sleep: the shell leads the console's session, and its exit hangs
# the console up, discarding output not yet sent (with several CPUs the
# serial interrupts may run behind).
probe='nproc; for c in $(seq 0 $(($(nproc) - 1))); do echo "on $c: $(taskset -c $c cat /proc/self/stat | cut -d" " -f39)"; done; sleep 0.2'
for n in 2 4; do
    start=$(date +%s.%N)
    "$krr" run --smp "$n" --append loglevel=7 -- sh -c "$probe" >"$work/smp$n.out" 2>"$work/smp$n.err"
    rc=$?
    seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    out=$(tr -d '\r' <"$work/smp$n.out")
    if [ $rc -ne 0 ]; then
        fail "--smp $n: krr exited $rc: $(tail -n 3 "$work/smp$n.out" "$work/smp$n.err")"
        continue
    fi
    if grep -q "smp: Brought up 1 node, $n CPUs" <<<"$out" &&
        grep -q "Total of $n processors activated" <<<"$out"; then
        pass "--smp $n: the kernel brought up $n CPUs (${seconds} s)"
    else
        fail "--smp $n: no 'Brought up 1 node, $n CPUs': $(grep -E 'smp|CPU' <<<"$out" | tail -5)"
    fi
    if grep -qx "$n" <<<"$out"; then
        pass "--smp $n: nproc is $n"
    else
        fail "--smp $n: nproc did not print $n"
    fi
    for c in $(seq 0 $((n - 1))); do
        if grep -qx "on $c: $c" <<<"$out"; then
            pass "--smp $n: a task pinned to CPU $c ran on CPU $c"
        else
            fail "--smp $n: pinned to CPU $c: $(grep "^on $c:" <<<"$out")"
        fi
    done
done

# The same console twice: the schedule is a function of the instruction
# counts, so two runs of the same command are identical.
"$krr" run --smp 2 -- sh -c "$probe" >"$work/again.out" 2>/dev/null
"$krr" run --smp 2 -- sh -c "$probe" >"$work/again2.out" 2>/dev/null
if cmp -s "$work/again.out" "$work/again2.out"; then
    pass "--smp 2: two runs print the same console, byte for byte"
else
    fail "--smp 2: two runs differ: $(diff "$work/again.out" "$work/again2.out" | head -5)"
fi

# Under KVM: the same probe, its pinned tasks run by KVM on each vCPU.
if [ -w /dev/kvm ]; then
    start=$(date +%s.%N)
    "$krr" run --smp 2 --accel kvm -- sh -c "$probe" >"$work/kvm.out" 2>"$work/kvm.err"
    rc=$?
    seconds=$(awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { printf "%.1f", a - b }')
    out=$(tr -d '\r' <"$work/kvm.out")
    if [ $rc -eq 0 ] && grep -qx "2" <<<"$out" && grep -qx "on 0: 0" <<<"$out" &&
        grep -qx "on 1: 1" <<<"$out"; then
        pass "--smp 2 --accel kvm: nproc 2, a task pinned to each CPU ran there (${seconds} s)"
    else
        fail "--smp 2 --accel kvm (rc $rc): $(grep -E '^(on|[0-9])' <<<"$out" | tr '\n' ' ') $(tail -n 3 "$work/kvm.err")"
    fi
else
    fail "no writable /dev/kvm: --smp 2 --accel kvm cannot be tested here"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
