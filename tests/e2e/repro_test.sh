#!/usr/bin/env bash
# End to end: krr repro. A racy sample (session-uaf-race) is recorded until
# it crashes, replayed with verification by krr repro itself and once more by
# `krr replay --verify` (the trace replays without knowing the jitter seed);
# the report names the title, the faulting function and the debug commands.
# The same seed records the same execution, another seed another one.
# Also: a sample that never crashes is "did not reproduce" (exit 2), and
# a bad --accel is refused. Prints the wall time of the recording.
set -euo pipefail

krr=${1:?usage: repro_test.sh KRR SAMPLES_DIR WORKDIR}
samples=${2:?}
work=${3:?}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

rm -rf "$work"
mkdir -p "$work"

# An unknown accelerator, and the emulator's --seed under KVM (tests/kvm's
# krr-repro-kvm records under KVM): clear errors, before anything is built.
status=0
"$krr" repro "$samples/session-uaf-race" --accel qemu -o "$work/qemu" 2>"$work/qemu.err" || status=$?
[[ $status -eq 1 ]] || fail "--accel qemu: exit $status, expected 1"
grep -qF "krr: repro: --accel qemu: not an accelerator (tcg or kvm)" \
    "$work/qemu.err" || fail "--accel qemu said: $(cat "$work/qemu.err")"
[[ ! -e $work/qemu ]] || fail "--accel qemu left a trace"
status=0
"$krr" repro "$samples/session-uaf-race" --accel kvm --seed 2 -o "$work/kvm" 2>"$work/kvm.err" ||
    status=$?
[[ $status -eq 1 ]] || fail "--accel kvm --seed: exit $status, expected 1"
grep -qF "krr: repro: --seed: the interrupt jitter is the emulator's" \
    "$work/kvm.err" || fail "--accel kvm --seed said: $(cat "$work/kvm.err")"
[[ ! -e $work/kvm ]] || fail "--accel kvm --seed left a trace"

# A bad bug.conf is an error naming the line.
mkdir -p "$work/bad"
printf 'title: t\ncrash: x\nracy: perhaps\n' >"$work/bad/bug.conf"
echo 'int main(void) { return 0; }' >"$work/bad/repro.c"
status=0
"$krr" repro "$work/bad" -o "$work/bad.trace" 2>"$work/bad.err" || status=$?
[[ $status -eq 1 ]] || fail "bad bug.conf: exit $status, expected 1"
grep -qF "bug.conf:3: racy: expected yes or no, not 'perhaps'" "$work/bad.err" ||
    fail "bad bug.conf said: $(cat "$work/bad.err")"

# A reproducer that exits cleanly does not reproduce.
mkdir -p "$work/quiet"
printf 'title: nothing\ncrash: this line is never printed\nmodule: none\nattempts: 1\n' \
    >"$work/quiet/bug.conf"
echo 'int main(void) { return 0; }' >"$work/quiet/repro.c"
status=0
"$krr" repro "$work/quiet" -o "$work/quiet.trace" >"$work/quiet.out" 2>"$work/quiet.err" ||
    status=$?
[[ $status -eq 2 ]] || fail "quiet sample: exit $status, expected 2 ($(cat "$work/quiet.err"))"
grep -qF "krr: repro: quiet: did not reproduce: no crash matching /this line is never printed/ in 1 attempt (seeds 1..1)" \
    "$work/quiet.err" || fail "quiet sample said: $(cat "$work/quiet.err")"
[[ ! -e $work/quiet.trace ]] || fail "the quiet sample left a trace"

# The module's bytes do not depend on where it is built (krr repro builds in
# a fresh scratch directory each time; the guest image must not change).
kmod=$samples/../../kmod
"$kmod/build-kmod" "$work/k" >/dev/null || fail "kmod/build-kmod $work/k"
"$kmod/build-kmod" "$work/kmod-in-a-longer-place" >/dev/null ||
    fail "kmod/build-kmod $work/kmod-in-a-longer-place"
cmp -s "$work/k/krr_bugs.ko" "$work/kmod-in-a-longer-place/krr_bugs.ko" ||
    fail "krr_bugs.ko differs with the build directory"

# The racy use-after-free, recorded and confirmed.
start=$(date +%s.%N)
status=0
"$krr" repro "$samples/session-uaf-race" -o "$work/uaf" --attempts 5 --seed 11 \
    >"$work/uaf.out" 2>"$work/uaf.err" || status=$?
end=$(date +%s.%N)
printf 'session-uaf-race: krr repro exited %d after %.1f s\n' "$status" "$(echo "$end - $start" | bc)"
cat "$work/uaf.err"
[[ $status -eq 0 ]] || fail "krr repro session-uaf-race: exit $status"
cat "$work/uaf.out"
expect() {
    grep -qE -- "$1" "$work/uaf.out" || fail "the report lacks /$1/"
}
expect "^general protection fault in session_checksum$"
expect "^  general protection fault, probably for non-canonical address 0x[0-9a-f]*6b6b6b6b"
expect "^  RIP: 0010:session_checksum\+0x[0-9a-f]+/0x[0-9a-f]+ \[krr_bugs\]$"
expect "^  Call Trace:$"
expect "^   __x64_sys_ioctl\+"
expect "^attempts:  [1-5] \(crashed with interrupt-jitter seed 1[1-5]\)$"
expect "^replayed:  verified in .* the crash line is printed at instruction [0-9]+ in both$"
expect "^trace:     $work/uaf$"
expect "^  krr gdbserver $work/uaf --listen 127.0.0.1:1234$"
expect "^module:    $work/uaf/krr_bugs.ko$"
[[ -s $work/uaf/krr_bugs.ko ]] || fail "the module was not kept with the trace"
expect "^  gdb .*/kernels/default/vmlinux -ex 'target remote :1234'$"
if grep -qE '^ +\? ' "$work/uaf.out"; then
    fail "the call trace keeps unreliable '? ' frames"
fi
# The trace stands alone: replay needs no seed.
"$krr" replay --verify -q "$work/uaf" 2>"$work/replay.err" ||
    fail "krr replay --verify: $(cat "$work/replay.err")"
grep -q "recording ended: kernel panic" "$work/replay.err" ||
    fail "the replayed recording did not end in a panic: $(cat "$work/replay.err")"
# The interrupt jitter is a function of the seed: the same seed records the
# same execution (the crash line at the same instruction), another seed a
# different interleaving.
crash_at() {
    sed -n 's/^replayed:  .* printed at instruction \([0-9]*\) in both$/\1/p' "$1"
}
first=$(crash_at "$work/uaf.out")
[[ -n $first ]] || fail "no crash instruction in the report"
grep -q "^attempts:  1 " "$work/uaf.out" || fail "seed 11 did not crash on its first attempt"
for seed in 11 13; do
    "$krr" repro "$samples/session-uaf-race" -o "$work/uaf-$seed" --attempts 1 --seed $seed \
        >"$work/uaf-$seed.out" 2>"$work/uaf-$seed.err" ||
        fail "seed $seed: $(cat "$work/uaf-$seed.err")"
done
again=$(crash_at "$work/uaf-11.out")
other=$(crash_at "$work/uaf-13.out")
echo "crash line at instruction $first (seed 11), $again (seed 11 again), $other (seed 13)"
[[ $again == "$first" ]] || fail "seed 11 twice: the crash at instructions $first and $again"
[[ $other != "$first" ]] || fail "seeds 11 and 13 crashed at the same instruction $first"
# A trace path that exists is refused.
status=0
"$krr" repro "$samples/session-uaf-race" -o "$work/uaf" 2>"$work/exists.err" || status=$?
[[ $status -eq 1 ]] && grep -qF "already exists" "$work/exists.err" ||
    fail "an existing -o TRACE: exit $status, $(cat "$work/exists.err")"
echo "krr repro: all checks passed"
