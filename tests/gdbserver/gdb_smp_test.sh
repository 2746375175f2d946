#!/bin/bash
# gdb on a recording of several vCPUs (issue 11): each vCPU is a thread, a
# breakpoint is hit on both CPUs, reverse-continue goes back across a vCPU
# switch to the other CPU's earlier hit, thread selection picks whose
# registers gdb reads, and stepi on a thread steps that vCPU. Debian's gdb
# in batch mode; the checks read what gdb printed.
# Usage: gdb_smp_test.sh KRR WORKLOAD (smp_race_workload)
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
[ -f "$vmlinux" ] || { echo "FAIL: no $vmlinux: run ./scripts/setup"; exit 1; }

trace="$work/smp.trace"
if ! "$krr" record --smp 2 --seed 1 -o "$trace" --file "$workload:/smp_race" -- /smp_race \
    </dev/null >"$work/record.out" 2>&1; then
    echo "FAIL: recording the workload: $(tail -n 3 "$work/record.out")"
    exit 1
fi

session() {
    local name="$1"
    shift
    local server_log="$work/$name.server"
    "$krr" gdbserver "$trace" --listen 127.0.0.1:0 2>"$server_log" &
    server_pid=$!
    local port=
    for _ in $(seq 300); do
        port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$server_log" 2>/dev/null | cut -d: -f2)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "FAIL: krr gdbserver did not start: $(cat "$server_log")"; exit 1; }
    # A command file: gdb's `while` takes its body from the lines after it.
    printf '%s\n' "target remote 127.0.0.1:$port" "$@" detach >"$work/$name.gdb"
    timeout 300 gdb -q -batch -nx "$vmlinux" -x "$work/$name.gdb" >"$work/$name.out" 2>&1
    wait "$server_pid"
    local rc=$?
    server_pid=
    [ $rc -eq 0 ] || fail "$name: krr gdbserver exited $rc: $(tail -n 2 "$server_log")"
}

# `monitor when` lines as "COUNT VCPU".
stops() {
    sed -n 's/^instruction \([0-9]*\) .*; vCPU \([0-9]*\) executes.*/\1 \2/p' "$work/$1.out"
}

# 1. Two threads; 30 hits of a function every CPU runs.
session hits 'info threads' 'break do_syscall_64' \
    'set $i = 0' 'while $i < 30' 'continue' 'monitor when' 'set $i = $i + 1' 'end'
if grep -q '^[* ] 1 *Thread [0-9.]*1 (vCPU 0, ' "$work/hits.out" &&
    grep -q '^[* ] 2 *Thread [0-9.]*2 (vCPU 1, ' "$work/hits.out" &&
    grep -q '^\* [12] *Thread [0-9.]* (vCPU [01], executing' "$work/hits.out"; then
    pass "info threads lists vCPU 0 and vCPU 1 as threads 1 and 2"
else
    fail "info threads: $(grep -i thread "$work/hits.out" | head -4)"
fi
mapfile -t hit < <(stops hits)
vcpus_hit=$(printf '%s\n' "${hit[@]}" | cut -d' ' -f2 | sort -u | tr '\n' ' ')
if [ "${#hit[@]}" -eq 30 ] && [ "$vcpus_hit" = "0 1 " ]; then
    pass "30 hits of do_syscall_64, on vCPUs $vcpus_hit"
else
    fail "hits: ${#hit[@]} on vCPUs '$vcpus_hit': $(tail -n 4 "$work/hits.out")"
fi
# The first hit whose vCPU differs from the previous hit's.
switch_at=
for ((j = 1; j < ${#hit[@]}; j++)); do
    if [ "${hit[j]#* }" != "${hit[j - 1]#* }" ]; then
        switch_at=$j
        break
    fi
done

# 2. Reverse-continue from that hit goes back across the switch to the
#    previous hit, on the other vCPU, at the same count as going forward.
if [ -n "$switch_at" ]; then
    session reverse 'break do_syscall_64' \
        "set \$i = 0" "while \$i < $((switch_at + 1))" 'continue' 'set $i = $i + 1' 'end' \
        'monitor when' 'reverse-continue' 'monitor when' 'info registers rip'
    mapfile -t back < <(stops reverse)
    if [ "${#back[@]}" -eq 2 ] && [ "${back[0]}" = "${hit[switch_at]}" ] &&
        [ "${back[1]}" = "${hit[switch_at - 1]}" ] &&
        grep -q "Switching to Thread [0-9]*\.*$(( ${hit[switch_at - 1]#* } + 1 ))\]" "$work/reverse.out"; then
        pass "reverse-continue from ${hit[switch_at]} (count vCPU) back across the switch to ${hit[switch_at - 1]}"
    else
        fail "reverse-continue: forward hits ${hit[switch_at - 1]} / ${hit[switch_at]}, stops ${back[*]}: $(tail -n 4 "$work/reverse.out")"
    fi
else
    fail "no vCPU switch between two consecutive hits in 30"
fi

# 3. Thread selection: registers are the selected vCPU's; stepi on the
#    other thread steps that vCPU (the machine runs until it has executed).
executing=$(cut -d' ' -f2 <<<"${hit[0]:-0 0}")
other=$((1 - executing))
session threads 'break do_syscall_64' 'continue' 'monitor when' 'p/x $rip' \
    'thread 1' 'p/x $rip' 'thread 2' 'p/x $rip' "thread $((other + 1))" 'stepi' 'monitor when'
mapfile -t t < <(stops threads)
mapfile -t rips < <(grep -o '^\$[0-9]* = 0x[0-9a-f]*' "$work/threads.out" | cut -d' ' -f3)
if [ "${#rips[@]}" -eq 3 ] && [ "${rips[executing + 1]}" = "${rips[0]}" ] &&
    [ "${rips[other + 1]}" != "${rips[0]}" ]; then
    pass "thread N shows vCPU N-1's RIP (executing ${rips[0]}, other ${rips[other + 1]})"
else
    fail "per-thread registers: ${rips[*]} (executing vCPU $executing)"
fi
if [ "${#t[@]}" -eq 2 ] && [ "${t[1]#* }" = "$other" ] && [ "${t[1]%% *}" -gt "${t[0]%% *}" ]; then
    pass "stepi on thread $((other + 1)) stopped with vCPU $other executing (${t[0]} -> ${t[1]})"
else
    fail "stepi on the other thread: ${t[*]}"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
