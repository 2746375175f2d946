#!/usr/bin/env bash
# Source-level time travel on the syzbot kernel (issue 12). `krr repro
# --kernel syzbot` records session-uaf-race until KASAN reports the
# use-after-free, `krr replay --verify` checks the trace, and gdb 13 in batch
# mode, with the kernel's DWARF vmlinux, its gdb helpers (gdbinit) and the
# module's symbols (lx-symbols), goes from the panic back to the report, into
# session_checksum at the stale read, back to the kfree() of the same object
# on the other thread, and steps around it. Where gdb arrives is checked
# against the source text and addr2line, not against krr.
#
#   syzbot_gdb_test.sh KRR SOURCE_ROOT
#
# Without the kernel in the cache it prints SKIP and exits 77 (meson: skipped).
# About a minute: the recording 25 s, the gdb session 5 s.
set -uo pipefail
krr=${1:?usage: syzbot_gdb_test.sh KRR SOURCE_ROOT}
root=${2:?}
cache=${KRR_CACHE:-$HOME/.cache/krr}
kernel=$cache/kernels/syzbot

# --kernel mistakes are one-line errors, before anything is built (these
# need no kernel).
sample=$root/samples/bugs/session-uaf-race
empty=$(mktemp -d)
expect_error() { # expect_error MESSAGE krr-arguments...
    local want=$1 got status=0
    shift
    got=$(KRR_CACHE=$empty "$krr" repro "$@" 2>&1 >/dev/null) || status=$?
    if [ $status -ne 1 ] || [ "$got" != "$want" ]; then
        echo "FAIL: krr repro $*: exit $status, said '$got', expected '$want'"
        rm -rf "$empty"
        exit 1
    fi
}
expect_error "krr: repro: --kernel syzbot: not built yet (no $empty/kernels/syzbot/vmlinuz); build it with './scripts/setup --syzbot-kernel' or 'krr kernel build --profile syzbot' (about 16 minutes on two cores, once)" \
    --kernel syzbot "$sample" -o "$empty/t"
expect_error "krr: repro: --kernel kasan: not a kernel profile (default, syzbot, debug) nor a file" \
    --kernel kasan "$sample" -o "$empty/t"
expect_error "krr: repro: --kernel $empty/bzImage: no such file" --kernel "$empty/bzImage" "$sample" -o "$empty/t"
[ -e "$empty/t" ] && { echo "FAIL: a --kernel error left a trace"; exit 1; }
rm -rf "$empty"
echo "ok: --kernel errors: a syzbot kernel not built yet, an unknown profile, a missing file"

for f in vmlinuz vmlinux gdbinit build/Makefile; do
    if [ ! -e "$kernel/$f" ]; then
        echo "SKIP: no syzbot kernel in the cache ($kernel/$f); build it once with" \
            "./scripts/setup --syzbot-kernel (or krr kernel build; about 16 min on 2 cores)"
        exit 77
    fi
done
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() { echo "ok: $*"; }
src=$root/kmod/krr_bugs.c
trace=$work/trace

# 1. krr repro on the syzbot kernel: KASAN's report, syzbot's title, verified.
start=$(date +%s)
status=0
"$krr" repro --kernel syzbot "$root/samples/bugs/session-uaf-race" -o "$trace" --seed 1 \
    >"$work/repro.out" 2>"$work/repro.err" </dev/null || status=$?
echo "krr repro --kernel syzbot: exit $status after $(($(date +%s) - start)) s"
cat "$work/repro.err"
if [ $status -ne 0 ]; then
    cat "$work/repro.out"
    echo "FAIL: krr repro --kernel syzbot session-uaf-race exited $status"
    exit 1
fi
if [ "$(head -1 "$work/repro.out")" = "KASAN: use-after-free Read in session_checksum" ] &&
    grep -q '^  BUG: KASAN: use-after-free in session_checksum+0x[0-9a-f]*/0x[0-9a-f]* \[krr_bugs\]$' \
        "$work/repro.out" &&
    grep -q '^  Read of size 8 at addr [0-9a-f]* by task repro/' "$work/repro.out" &&
    grep -q '^replayed:  verified in .* the crash line is printed at instruction [0-9]* in both$' \
        "$work/repro.out" &&
    grep -q "^  gdb $kernel/vmlinux -ex 'source $kernel/gdbinit' -ex 'target remote :1234'" \
        "$work/repro.out"; then
    pass "krr repro: $(head -1 "$work/repro.out"); $(grep '^attempts:' "$work/repro.out")"
else
    fail "krr repro's report:"
    cat "$work/repro.out"
fi
start=$(date +%s)
if "$krr" replay --verify -q "$trace" 2>"$work/replay.err"; then
    pass "krr replay --verify ($(($(date +%s) - start)) s): $(tail -n 1 "$work/replay.err")"
else
    fail "krr replay --verify: $(tail -n 3 "$work/replay.err")"
fi

# 2. The gdb session. The lines gdb must reach, from the source text:
# in session_destroy(), the kfree(s) and the kvfree(s->data) before it.
destroy_lines=$(awk '/^static long session_destroy\(/ { f = 1 } f { print NR ": " $0 } f && /^}/ { exit }' "$src")
kfree_line=$(grep -F 'kfree(s);' <<<"$destroy_lines" | cut -d: -f1)
kvfree_line=$(grep -F 'kvfree(s->data);' <<<"$destroy_lines" | cut -d: -f1)
return_line=$(grep -F 'return 0;' <<<"$destroy_lines" | cut -d: -f1)
if [ -z "$kfree_line" ] || [ -z "$kvfree_line" ] || [ -z "$return_line" ]; then
    echo "FAIL: cannot find session_destroy's kfree(s), kvfree(s->data) and return in $src"
    exit 1
fi

"$krr" gdbserver "$trace" --listen 127.0.0.1:0 2>"$work/server.err" &
server_pid=$!
port=
for _ in $(seq 300); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/server.err" | cut -d: -f2)
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "FAIL: krr gdbserver did not start: $(cat "$work/server.err")"
    exit 1
fi
# gdb runs in $work: lx-symbols also scans the current directory for .ko
# files, and a source tree holds modules built for other kernels.
cat >"$work/session.gdb" <<EOF
set pagination off
set confirm off
directory $root
target remote 127.0.0.1:$port
lx-symbols $trace
break panic
continue
lx-dmesg
lx-ps
delete
break kasan_report
reverse-continue
set \$bad = addr
monitor when
bt
delete
reverse-finish
reverse-finish
echo @read\\n
info line *\$pc
list
break kfree if \$bad - (unsigned long)object < 64
reverse-continue
monitor when
bt 3
delete
reverse-finish
echo @call\\n
print/x \$pc
reverse-next
echo @reverse-next\\n
info line *\$pc
next
echo @next\\n
info line *\$pc
echo @step\\n
step
echo @finish\\n
finish
echo @reverse-step\\n
reverse-step
echo @reverse-finish\\n
reverse-finish
list
EOF
start=$(date +%s)
(cd "$work" && timeout 600 gdb -q -batch -nx "$kernel/vmlinux" -ex "source $kernel/gdbinit" \
    -x "$work/session.gdb" >"$work/gdb.out" 2>&1)
gdb_status=$?
wait "$server_pid"
server_status=$?
server_pid=
echo "gdb session: $(($(date +%s) - start)) s (gdb exit $gdb_status, krr gdbserver exit $server_status)"
[ $server_status -eq 0 ] || fail "krr gdbserver exited $server_status: $(tail -n 3 "$work/server.err")"
out=$work/gdb.out
# The part of gdb's output after marker @NAME (up to the next marker); a
# marker is echoed before the command (step and after) or before the
# command that shows where the previous one arrived (info line, print).
after() { awk -v m="@$1" '$0 == m { f = 1; next } /^@/ { f = 0 } f' "$out"; }
line_text() { sed -n "${1}p" "$src"; }

# lx-symbols loads the module kept with the trace.
text_base=$(sed -n "s|^loading @\(0x[0-9a-f]*\): $trace/krr_bugs.ko\$|\1|p" "$out")
if [ -n "$text_base" ]; then
    pass "lx-symbols: krr_bugs.ko at $text_base"
else
    fail "lx-symbols did not load $trace/krr_bugs.ko: $(grep -m3 -i 'loading\|scanning\|error' "$out")"
fi

# At the panic, the kernel's log holds KASAN's report and lx-ps the reproducer.
bad=$(sed -n 's/.*\] Read of size 8 at addr \([0-9a-f]*\) by task repro\/[0-9]*$/\1/p' "$out" | head -1)
if grep -q '^Breakpoint 1, panic (' "$out" &&
    grep -q '\] BUG: KASAN: use-after-free in session_checksum+0x[0-9a-f]*/0x[0-9a-f]* \[krr_bugs\]$' "$out" &&
    [ -n "$bad" ]; then
    pass "lx-dmesg at the panic: KASAN's use-after-free report (address $bad)"
else
    fail "lx-dmesg: no KASAN report: $(grep -m3 'KASAN\|Breakpoint 1' "$out")"
fi
if grep -qE '^0x[0-9a-f]+ +[0-9]+ +repro$' "$out"; then
    pass "lx-ps: $(grep -cE '^0x[0-9a-f]+ +[0-9]+ +repro$' "$out") repro tasks"
else
    fail "lx-ps lists no repro task"
fi

# reverse-continue to the report; the backtrace has source frames.
if grep -q "^Breakpoint 2, kasan_report (addr=addr@entry=[0-9]*, size=size@entry=8, is_write=is_write@entry=false" "$out" &&
    grep -qE '^#[0-9]+ +0x[0-9a-f]+ in session_checksum \(\) at kmod/krr_bugs.c:[0-9]+$' "$out" &&
    grep -qE '^#[0-9]+ +0x[0-9a-f]+ in __asan_report_load8_noabort \(.*\) at ../mm/kasan/report_generic.c:[0-9]+$' "$out" &&
    grep -qE '^#[0-9]+ +0x[0-9a-f]+ in krr_bugs_ioctl \(.*\) at kmod/krr_bugs.c:[0-9]+$' "$out"; then
    pass "reverse-continue to kasan_report (a read of 8 bytes); bt: $(grep -oE 'in session_checksum \(\) at kmod/krr_bugs.c:[0-9]+' "$out" | head -1)"
else
    fail "break kasan_report / bt: $(grep -m4 -E '^Breakpoint 2|^#[0-2] ' "$out")"
fi

# Two reverse-finishes: back in session_checksum, on the line of the stale read.
read_line=$(after read | sed -n 's/^Line \([0-9]*\) of "kmod\/krr_bugs.c".*<session_checksum+[0-9]*>.*/\1/p')
if [ -n "$read_line" ] && grep -qF 's->' <<<"$(line_text "$read_line")" &&
    grep -qP "^$read_line\t\Q$(line_text "$read_line")\E\$" <<<"$(after read)"; then
    pass "reverse-finish x2: session_checksum at krr_bugs.c:$read_line ($(line_text "$read_line" | sed 's/^ *//')); list shows it"
else
    fail "reverse-finish into session_checksum: $(after read | head -3)"
fi

# The conditional breakpoint on kfree of the object KASAN names, backwards.
mapfile -t when < <(grep -o '^instruction [0-9]*' "$out" | cut -d' ' -f2)
if grep -q "^Breakpoint 3, kfree (object=0x$bad) at ../mm/slab_common.c:[0-9]*\$" "$out" &&
    grep -qE "^#1 +0x[0-9a-f]+ in session_destroy \(\) at kmod/krr_bugs.c:$kfree_line\$" "$out" &&
    [ "${#when[@]}" -eq 2 ] && [ "${when[1]}" -lt "${when[0]}" ]; then
    pass "reverse-continue to kfree(0x$bad) from session_destroy, instruction ${when[1]} (the report: ${when[0]})"
else
    fail "kfree of 0x$bad: $(grep -m2 -E '^Breakpoint 3|^#1 ' "$out"); counts ${when[*]}"
fi

# reverse-finish: the call of kfree, at the line that calls it (addr2line agrees).
call_pc=$(after call | sed -n 's/^\$[0-9]* = \(0x[0-9a-f]*\)$/\1/p')
a2l=
if [ -n "$call_pc" ] && [ -n "$text_base" ]; then
    a2l=$(addr2line -e "$trace/krr_bugs.ko" "$(printf '0x%x' $((call_pc - text_base)))")
fi
if grep -qE "^0x[0-9a-f]+ in session_destroy \(\) at kmod/krr_bugs.c:$kfree_line\$" "$out" &&
    [ "${a2l##*/}" = "krr_bugs.c:$kfree_line" ]; then
    pass "reverse-finish: session_destroy at krr_bugs.c:$kfree_line ($(line_text "$kfree_line" | sed 's/^ *//')); addr2line: ${a2l##*/}"
else
    fail "reverse-finish to the kfree call: pc $call_pc, addr2line '$a2l', want line $kfree_line"
fi

# reverse-next and next move between the two frees; step enters kfree,
# finish leaves it, reverse-step goes back in and reverse-finish out again.
if after reverse-next | grep -q "^Line $kvfree_line of \"kmod/krr_bugs.c\"" &&
    after next | grep -q "^Line $kfree_line of \"kmod/krr_bugs.c\""; then
    pass "reverse-next: krr_bugs.c:$kvfree_line ($(line_text "$kvfree_line" | sed 's/^ *//')); next: back to $kfree_line"
else
    fail "reverse-next/next: $(after reverse-next | head -2) / $(after next | head -2)"
fi
if after step | grep -q "^kfree (object=0x$bad) at ../mm/slab_common.c:" &&
    after finish | grep -q "^session_destroy () at kmod/krr_bugs.c:$return_line\$" &&
    after reverse-step | grep -qE '^0x[0-9a-f]+ in kfree \(.*\) at ../mm/slab_common.c:[0-9]+$' &&
    after reverse-finish | grep -qE "^0x[0-9a-f]+ in session_destroy \(\) at kmod/krr_bugs.c:$kfree_line\$" &&
    after reverse-finish | grep -qP "^$kfree_line\t\Q$(line_text "$kfree_line")\E\$"; then
    pass "step into kfree, finish to line $return_line, reverse-step into kfree, reverse-finish to $kfree_line; list"
else
    fail "step/finish/reverse-step/reverse-finish:"
    sed -n '/^@step$/,$p' "$out" | head -30
fi

if [ "$failures" -ne 0 ]; then
    echo "--- gdb output (without the kernel log)"
    grep -v '^\[ *[0-9]*\.[0-9]*\]' "$out" | tail -80
    echo "$failures check(s) failed"
    exit 1
fi
echo "syzbot kernel, source-level gdb session: all checks passed"
