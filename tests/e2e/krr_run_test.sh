#!/bin/bash
# End-to-end checks of `krr run` on the default guest (issue 5's "done when"):
# uname, exit statuses, a static workload that must print what it prints
# natively, byte-identical console output across two boots, a kernel panic's
# distinct status, and the limits. Usage: krr_run_test.sh KRR WORKLOAD
set -u
krr="$1"
workload="$2"
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
release=$(basename "$(readlink -f "$cache/kernels/default")")

# 1. uname -a prints the guest's Linux line and exits 0.
"$krr" run -- uname -a >"$work/uname.out" 2>"$work/uname.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "^Linux .* $release .* x86_64 GNU/Linux" "$work/uname.out"; then
    pass "uname -a shows $release"
else
    fail "uname -a (rc $rc): $(tail -n 3 "$work/uname.out" "$work/uname.err")"
fi

# 1b. Without a command the guest runs a shell on its console, fed from stdin.
printf 'echo typed $((6 * 7))\nexit 5\n' | "$krr" run >"$work/shell.out" 2>&1
rc=$?
if [ $rc -eq 5 ] && grep -q "^typed 42" <(tr -d '\r' <"$work/shell.out"); then
    pass "stdin reaches the guest's shell (exit 5)"
else
    fail "stdin to the guest shell (rc $rc): $(tail -n 3 "$work/shell.out")"
fi

# 2. The command's exit status is krr's.
"$krr" run -- sh -c 'exit 42' >/dev/null 2>&1
rc=$?
[ $rc -eq 42 ] && pass "exit status 42 passed through" || fail "exit status: got $rc, want 42"

# 3. A static workload prints the same inside the guest as natively.
"$workload" >"$work/native.out" 2>&1 || fail "the workload fails natively"
"$krr" run --file "$workload:/workload" -- /workload >"$work/guest.out" 2>"$work/guest.err"
rc=$?
# The guest console also carries kernel messages: keep the workload's lines.
tr -d '\r' <"$work/guest.out" | grep -E '^(pipe|threads|sleep|signal|mmap|mprotect|maps|float):' >"$work/guest.lines"
if [ $rc -eq 0 ] && diff -u "$work/native.out" "$work/guest.lines"; then
    pass "workload output identical to native ($(wc -l <"$work/native.out") lines)"
else
    fail "workload differs (rc $rc): $(tail -n 3 "$work/guest.err")"
fi

# 4. Determinism: two boots with the full kernel log give identical bytes.
for i in 1 2; do
    "$krr" run --append loglevel=8 -- sh -c 'cat /proc/interrupts; head -c 64 /dev/urandom | od -x | head -2' \
        >"$work/boot$i.out" 2>&1
done
if cmp -s "$work/boot1.out" "$work/boot2.out" && [ "$(wc -l <"$work/boot1.out")" -gt 100 ]; then
    pass "two boots gave byte-identical consoles ($(wc -c <"$work/boot1.out") bytes)"
else
    fail "two boots differ: $(diff "$work/boot1.out" "$work/boot2.out" | head -5)"
fi

# 5. A kernel panic ends the run with status 125 and the panic on the console.
"$krr" run -- sh -c 'echo c > /proc/sysrq-trigger' >"$work/panic.out" 2>"$work/panic.err"
rc=$?
if [ $rc -eq 125 ] && grep -q "Kernel panic - not syncing" "$work/panic.out" &&
    grep -q "kernel panic" "$work/panic.err"; then
    pass "kernel panic: status 125, panic text shown"
else
    fail "kernel panic (rc $rc): $(tail -n 2 "$work/panic.err")"
fi

# 6. Limits and bad input: clear messages, distinct statuses, no hang.
"$krr" run --max-instructions 2000000 -- true >/dev/null 2>"$work/limit.err"
rc=$?
[ $rc -eq 124 ] && grep -q "max-instructions" "$work/limit.err" &&
    pass "--max-instructions stops with 124" || fail "--max-instructions (rc $rc): $(cat "$work/limit.err")"
"$krr" run --kernel /nonexistent -- true >/dev/null 2>"$work/nokernel.err"
rc=$?
[ $rc -ne 0 ] && grep -q "^krr: kernel: /nonexistent" "$work/nokernel.err" &&
    pass "missing kernel: $(head -1 "$work/nokernel.err")" || fail "missing kernel (rc $rc)"
"$krr" run --mem lots -- true >/dev/null 2>"$work/badmem.err"
rc=$?
[ $rc -ne 0 ] && grep -q "^krr: " "$work/badmem.err" &&
    pass "bad --mem: $(head -1 "$work/badmem.err")" || fail "bad --mem (rc $rc)"

echo "$failures failure(s)"
[ $failures -eq 0 ]
