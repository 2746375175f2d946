#!/bin/bash
# Time travel in gdb (issue 8): Debian's gdb drives `krr gdbserver` on a
# recorded run of gdb_workload (5 getpid calls, 5 forks, one open), in batch
# mode, and the checks read what gdb printed. Usage:
#   gdb_reverse_test.sh KRR WORKLOAD
set -u
krr="$1"
workload="$2"
work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

cache="${KRR_CACHE:-$HOME/.cache/krr}"
vmlinux="$cache/kernels/default/vmlinux"
map="$cache/kernels/default/System.map"
[ -f "$vmlinux" ] || { echo "FAIL: no $vmlinux: run ./scripts/setup"; exit 1; }

trace="$work/gdb.trace"
if ! "$krr" record -o "$trace" --file "$workload:/w" -- /w </dev/null >"$work/record.out" 2>&1; then
    echo "FAIL: recording the workload: $(tail -n 3 "$work/record.out")"
    exit 1
fi

# start_server [krr gdbserver options...]: sets $port and $server_log.
servers=0
start_server() {
    servers=$((servers + 1))
    server_log="$work/server.$servers.err"
    "$krr" gdbserver "$trace" --listen 127.0.0.1:0 "$@" 2>"$server_log" &
    server_pid=$!
    port=
    for _ in $(seq 300); do
        port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$server_log" 2>/dev/null | cut -d: -f2)
        [ -n "$port" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "FAIL: krr gdbserver did not start: $(cat "$server_log")"
    exit 1
}

# session NAME SYMBOLS gdb-commands...: one gdb session against a fresh server.
session() {
    local name="$1" symbols="$2"
    shift 2
    start_server
    local args=()
    for c in "$@"; do args+=(-ex "$c"); done
    timeout 300 gdb -q -batch -nx "$symbols" -ex "target remote 127.0.0.1:$port" "${args[@]}" \
        -ex detach >"$work/$name.out" 2>&1
    wait "$server_pid"
    local rc=$?
    server_pid=
    [ $rc -eq 0 ] || fail "$name: krr gdbserver exited $rc: $(tail -n 2 "$server_log")"
}

# The instruction counts `monitor when` printed, in order.
counts() { grep -o '^instruction [0-9]*' "$work/$1.out" | cut -d' ' -f2; }

# 1. Breakpoint hit several times; reverse-continue lands on the previous hit.
session breakpoints "$vmlinux" 'break __x64_sys_getpid' c 'monitor when' c 'monitor when' \
    reverse-continue 'monitor when'
mapfile -t c < <(counts breakpoints)
hits=$(grep -c '^Breakpoint 1, __do_sys_getpid' "$work/breakpoints.out")
if [ "$hits" -eq 3 ] && [ "${#c[@]}" -eq 3 ] && [ "${c[1]}" -gt "${c[0]}" ] && [ "${c[2]}" = "${c[0]}" ]; then
    pass "breakpoint: continue, continue, reverse-continue stop at ${c[0]}, ${c[1]}, ${c[2]}"
else
    fail "breakpoint: $hits stops at counts ${c[*]}: $(tail -n 5 "$work/breakpoints.out")"
fi

# 2. stepi 1000 then reverse-stepi 1000 gives identical registers.
session stepi "$vmlinux" 'break do_sys_openat2' c 'info registers' 'stepi 1000' 'info registers' \
    'reverse-stepi 1000' 'info registers'
for n in 1 2 3; do
    awk -v n=$n '/^rax /{k++} k==n' "$work/stepi.out" | head -27 >"$work/regs$n"
done
if [ "$(wc -l <"$work/regs1")" -ge 24 ] && cmp -s "$work/regs1" "$work/regs3" &&
    ! cmp -s "$work/regs1" "$work/regs2"; then
    pass "stepi 1000 / reverse-stepi 1000: $(wc -l <"$work/regs1") registers identical"
else
    fail "stepi/reverse-stepi registers differ: $(diff "$work/regs1" "$work/regs3" | head -6)"
fi

# 3. reverse-finish returns to the call; reverse-next and reverse-step undo
#    next and step (gdb's documentation: back to the line before).
session source "$vmlinux" 'break build_open_flags' c 'stepi 5' 'delete' reverse-finish 'x/i $pc' 'bt 2' \
    'info line *$pc' next 'info line *$pc' next 'info line *$pc' reverse-next 'info line *$pc' \
    step 'info line *$pc' reverse-step 'info line *$pc'
mapfile -t lines < <(grep -o '^Line [0-9]* of "[^"]*"' "$work/source.out")
if grep -q '=> 0x[0-9a-f]* <do_sys_openat2+[0-9]*>:.*call .*<build_open_flags>' "$work/source.out"; then
    pass "reverse-finish: stopped at do_sys_openat2's call of build_open_flags"
else
    fail "reverse-finish: $(grep '=>' "$work/source.out")"
fi
# lines: [0] at the call, [1] after next, [2] after next, [3] after reverse-next,
# [4] after step, [5] after reverse-step.
if [ "${#lines[@]}" -eq 6 ] && [ "${lines[3]}" = "${lines[1]}" ] && [ "${lines[2]}" != "${lines[1]}" ] &&
    [ "${lines[5]}" = "${lines[1]}" ]; then
    pass "next/reverse-next and step/reverse-step: back at ${lines[1]}"
else
    fail "reverse-next/reverse-step lines: ${lines[*]}"
fi

# 4. A watchpoint on a kernel global the workload changes (total_forks).
session watch "$vmlinux" 'watch total_forks' c c c reverse-continue 'x/i $pc' 'print total_forks'
mapfile -t old < <(grep -A1 '^Old value' "$work/watch.out" | grep -o '= [0-9]*' | cut -c3-)
# old: o1 n1 o2 n2 o3 n3 (forward), then o4 n4 (backward).
if [ "${#old[@]}" -eq 8 ] && [ $((old[0] + 1)) -eq "${old[1]}" ] && [ "${old[3]}" -eq $((old[1] + 1)) ] &&
    [ "${old[6]}" = "${old[5]}" ] && [ "${old[7]}" = "${old[4]}" ] &&
    grep -q '=> .*<copy_process+[0-9]*>:.*<total_forks>' "$work/watch.out" &&
    grep -q "^\$1 = ${old[4]}\$" "$work/watch.out"; then
    pass "watch total_forks: ${old[0]}->${old[1]}->${old[3]}->${old[5]} forward, back to ${old[7]} before the write"
else
    fail "watch total_forks: values ${old[*]}: $(grep -E '=>|Old|New' "$work/watch.out" | tail -4)"
fi

# 5. The ends of the recording: reported, and the session stays usable.
session ends "$vmlinux" 'info registers rip' reverse-stepi 'info registers rip' reverse-continue \
    c 'monitor when' stepi 'reverse-stepi' 'monitor when' 'info registers rip'
mapfile -t c < <(counts ends)
ends=$(grep -c 'No more reverse-execution history' "$work/ends.out")
end_count=$(grep -o 'instructions [0-9]* to [0-9]*' "$server_log" | awk '{print $4}')
rips=$(grep -c '^rip ' "$work/ends.out")
if [ "$ends" -ge 4 ] && [ "${c[0]:-}" = "$end_count" ] && [ "${c[1]:-}" = $((end_count - 1)) ] && [ "$rips" -eq 3 ]; then
    pass "ends: start and end reported ($ends times); stepping back from the end works"
else
    fail "ends: $ends end reports, counts ${c[*]} (end $end_count), $rips rip lines"
fi

# 6. Symbols from System.map alone (no debug kernel).
symfile=$(grep -o '/[^ ]*system-map-[^ ]*\.elf' "$server_log" | head -1)
expected=$(awk '$3 == "do_sys_openat2" { print $1; exit }' "$map" | sed 's/^0*//')
session mapsyms "$symfile" 'break do_sys_openat2' c 'bt 3'
if [ -n "$symfile" ] && grep -q "^Breakpoint 1 at 0x$expected\$" "$work/mapsyms.out" &&
    grep -q "^Breakpoint 1, 0x0*$expected in do_sys_openat2 ()" "$work/mapsyms.out" &&
    grep -q '^#1 .* in do_sys_open\|^#1 .* in __x64_sys_openat' "$work/mapsyms.out"; then
    pass "System.map symbols: break do_sys_openat2 at 0x$expected, bt names the caller"
else
    fail "System.map symbols ($symfile): $(head -8 "$work/mapsyms.out")"
fi

# 7. monitor commands; a memory write is discarded when moving, with a note.
session monitor "$vmlinux" 'monitor help' 'break __x64_sys_getpid' c 'print total_forks' \
    'set var total_forks = 12345' 'print total_forks' stepi 'print total_forks' 'monitor when' \
    'monitor info inputs' 'monitor goto input 3' 'monitor when' 'monitor goto 1' \
    'monitor info checkpoints' 'monitor bogus'
input3=$(grep -o '#3  instruction [0-9]*' "$work/monitor.out" | head -1 | awk '{print $3}')
mapfile -t c < <(counts monitor)
mapfile -t forks < <(grep -o '^\$[0-9]* = [0-9]*' "$work/monitor.out" | awk '{print $3}')
if grep -q 'goto input N' "$work/monitor.out" && [ -n "$input3" ] && [ "${c[1]:-}" = "$input3" ] &&
    grep -q 'is outside the recording' "$work/monitor.out" &&
    grep -q 'checkpoints, [0-9]* KiB' "$work/monitor.out" &&
    [ "${forks[1]:-}" = 12345 ] && [ "${forks[2]:-}" = "${forks[0]:-x}" ] &&
    grep -q 'changes made at .* are discarded' "$work/monitor.out" &&
    grep -q "unknown monitor command 'bogus'" "$work/monitor.out"; then
    pass "monitor when/goto/info/help; a write (12345) is discarded on the next step"
else
    fail "monitor: counts ${c[*]} (input 3 at $input3), total_forks ${forks[*]}: $(tail -n 6 "$work/monitor.out")"
fi

# 8. Bad packets get error or empty replies; the server keeps serving.
start_server
if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    echo "FAIL: cannot connect to krr gdbserver on port $port"
    exit 1
fi
send() { # send PAYLOAD: frame it with its checksum
    local p="$1" sum=0 i
    for ((i = 0; i < ${#p}; i++)); do
        sum=$(((sum + $(printf '%d' "'${p:i:1}")) % 256))
    done
    printf '$%s#%02x' "$p" "$sum" >&3
}
replies=()
expect_reply() { # read one packet (skipping acks)
    local r
    IFS= read -r -t 10 -d '#' r <&3 || { replies+=("(none)"); return; }
    read -r -t 10 -n 2 _ <&3
    replies+=("${r##*$}")
}
for bad in 'm zz,4' 'Z9,0,1' 'Z2,ffffffffffffffff,8' 'p 999' 'G 00' 'vCont;x' 'Hg p5.9' 'qXfer:features:read:other.xml:0,10' 'c 1234' 'X0,3:ab'; do
    send "$bad"
    expect_reply
done
printf '$garbage#00' >&3 # bad checksum: NAK, no reply
send 'qRcmd,7768656e' # "when"
expect_reply
send 'D'
expect_reply
exec 3>&-
wait "$server_pid"
rc=$?
server_pid=
bad_ok=1
for r in "${replies[@]:0:10}"; do
    case "$r" in E* | "") ;; *) bad_ok=0 ;; esac
done
if [ $bad_ok -eq 1 ] && [ "${#replies[@]}" -eq 12 ] && [ -n "${replies[10]}" ] && [ "${replies[11]}" = OK ] &&
    [ $rc -eq 0 ]; then
    pass "bad packets: ${replies[*]:0:10} (errors or empty); then a monitor command and D work"
else
    fail "bad packets: replies '${replies[*]}', server exit $rc: $(tail -n 2 "$server_log")"
fi

echo "$failures failures"
[ $failures -eq 0 ]
