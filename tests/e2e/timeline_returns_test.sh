#!/usr/bin/env bash
# End to end: returns from exceptions, page faults and interrupts in the
# activity index (issue 10). tests/e2e/return_workload.c touches 64 fresh
# pages, executes ud2 8 times under a SIGILL handler, spins in user mode
# through timer interrupts and reads 4 MiB from /dev/zero into a fresh
# mapping, printing its addresses and the kernel's minor-fault counts. What
# the index says is checked against those facts and against the log's own
# count of delivered interrupts (krr info), never against itself:
# - each touched page is one user write fault, in order, and returns to the
#   faulting instruction; the faults between the getrusage calls number
#   what the kernel counted;
# - each ud2 is one invalid-opcode exception returning to the handler;
# - every interrupt the log delivered is listed and returns; those taken in
#   user mode return where they interrupted;
# - per task, the returned entries nest (a later entry returns before an
#   earlier one still open, or after it returned), and the read() holds
#   the kernel's faults on its buffer and timer interrupts.
# Usage: timeline_returns_test.sh KRR RETURN_WORKLOAD WORKDIR
set -euo pipefail

krr=${1:?usage: timeline_returns_test.sh KRR RETURN_WORKLOAD WORKDIR}
workload=${2:?}
work=${3:?}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
rm -rf "$work"
mkdir -p "$work"
trace=$work/returns.trace

"$krr" record -o "$trace" --file "$workload:/returns" -- /returns </dev/null \
    >"$work/record.out" 2>"$work/record.err" || fail "record: $(tail -n 3 "$work/record.err")"
grep -q '^pages .* traps 8 ' "$work/record.out" || fail "the workload did not run: $(cat "$work/record.out")"
"$krr" info "$trace" --json >"$work/info.json" || fail "krr info"
start=$(date +%s.%N)
"$krr" timeline "$trace" --json >"$work/all.json" 2>"$work/timeline.err" ||
    fail "timeline: $(cat "$work/timeline.err")"
end=$(date +%s.%N)
echo "indexed in $(python3 -c "print(round($end - $start, 1))") s"

python3 - "$work/all.json" "$work/info.json" "$work/record.out" <<'PY' || fail "returns"
import json, re, sys
doc = json.load(open(sys.argv[1]))
info = json.load(open(sys.argv[2]))
out = open(sys.argv[3]).read()
m = re.search(r"^pages (0x[0-9a-f]+) touched (\d+) minflt (\d+) traps (\d+) at (0x[0-9a-f]+) "
              r"handler (0x[0-9a-f]+)", out, re.M)
pages, touched, minflt, traps, ud2, handler = (int(x, 0) for x in m.groups())
m = re.search(r"^zeros (0x[0-9a-f]+) read (\d+) minflt (\d+)", out, re.M)
zeros, zero_bytes, zero_minflt = (int(x, 0) for x in m.groups())
events = doc["events"]
calls = [e for e in events if e["kind"] == "syscall"]
task = next(e["task"] for e in calls if e["task"].startswith("returns["))
mine = [e for e in events if e.get("task") == task]
faults = [e for e in mine if e["kind"] == "page-fault"]
USER_WRITE_NOT_PRESENT = 6

# The touched pages: one user write fault each, in order, each returning to
# the instruction that faulted.
touch = [e for e in faults if pages <= e["address"] < pages + touched * 4096]
assert [e["address"] for e in touch] == [pages + i * 4096 for i in range(touched)], \
    "faults on the touched pages: " + str([hex(e["address"]) for e in touch])
assert all(e["error_code"] == USER_WRITE_NOT_PRESENT for e in touch), "not user write faults"
assert all(e.get("returned_to") == e["rip"] for e in touch), "a touch fault did not return to its rip"
assert all(a["returned_at"] < b["count"] for a, b in zip(touch, touch[1:])), "touch faults overlap"

# The kernel's own count: the faults between the two getrusage calls (98)
# around the loop, and around the read().
rusage = [e for e in calls if e["name"] == "getrusage" and e["task"] == task]
assert len(rusage) == 4, f"{len(rusage)} getrusage calls"
def faults_between(a, b):
    return sum(1 for e in faults if a["returned_at"] < e["count"] < b["count"])
assert faults_between(rusage[0], rusage[1]) == minflt, \
    f"{faults_between(rusage[0], rusage[1])} faults in the loop, the kernel counted {minflt}"
assert faults_between(rusage[2], rusage[3]) == zero_minflt, \
    f"{faults_between(rusage[2], rusage[3])} faults around read(), the kernel counted {zero_minflt}"

# ud2: invalid-opcode exceptions at the site, each returning to the handler.
invalid = [e for e in events if e["kind"] == "exception" and e["vector"] == 6]
assert len(invalid) == traps, f"{len(invalid)} invalid-opcode exceptions, the workload took {traps}"
assert all(e["rip"] == ud2 for e in invalid), "an invalid-opcode exception elsewhere"
assert all(e.get("returned_to") == handler for e in invalid), \
    "returned to " + str([hex(e.get("returned_to", 0)) for e in invalid]) + f", handler {handler:#x}"

# Interrupts: as many as the log delivered, every one returned; those taken
# in the workload's user mode return where they interrupted it.
interrupts = [e for e in events if e["kind"] == "interrupt"]
logged = info["log"]["inputs"]["interrupt"]
assert len(interrupts) == logged, f"{len(interrupts)} interrupts, the log delivered {logged}"
returned = [e for e in interrupts if "returned_at" in e]
assert len(returned) == logged, f"{len(returned)} of {logged} interrupts returned"
in_user = [e for e in interrupts if e.get("task") == task and e["rip"] < 1 << 47]
assert in_user, "no interrupt in the workload's user mode (it spins through several)"
assert all(e["returned_to"] == e["rip"] for e in in_user), "a user-mode interrupt returned elsewhere"

# Nesting, per task: entries returned through IRETQ never overlap partly.
def spans(kinds):
    by_task = {}
    for e in events:
        if e["kind"] in kinds and "returned_at" in e:
            by_task.setdefault(e.get("task", ""), []).append((e["count"], e["returned_at"], e))
    return by_task
nested = 0
for who, s in spans({"exception", "page-fault", "interrupt"}).items():
    s.sort(key=lambda x: x[0])
    stack = []
    for begin, end, e in s:
        while stack and stack[-1][1] <= begin:
            stack.pop()
        if stack:
            assert end <= stack[-1][1], f"{who}: {e['text']} overlaps {stack[-1][2]['text']} partly"
            nested += 1
        stack.append((begin, end, e))

# The read(): the kernel's faults on the buffer and timer interrupts inside it.
read = next(e for e in calls if e["name"] == "read" and e["task"] == task and e["args"][2] == zero_bytes)
inside = lambda e: read["count"] < e["count"] and e["returned_at"] < read["returned_at"]
buffer_faults = [e for e in faults if zeros <= e["address"] < zeros + zero_bytes]
assert len(buffer_faults) == zero_minflt and all(inside(e) for e in buffer_faults), \
    f"{len(buffer_faults)} faults on the buffer, not all inside read()"
assert all(e["error_code"] & 4 == 0 and e["returned_to"] == e["rip"] for e in buffer_faults), \
    "a buffer fault from user mode, or returned elsewhere"
kernel_interrupts = [e for e in interrupts if inside(e) and e["rip"] >= 1 << 63]
assert len(kernel_interrupts) >= 3, f"{len(kernel_interrupts)} interrupts inside a read of 4 MiB"

returned_all = sum(1 for e in events if e["kind"] in ("exception", "page-fault", "interrupt")
                   and "returned_at" in e)
total = sum(1 for e in events if e["kind"] in ("exception", "page-fault", "interrupt"))
print(f"ok: {returned_all} of {total} exceptions, page faults and interrupts returned "
      f"({len(interrupts)} interrupts as logged, {nested} nested in another entry)")
PY

# Text shows the return: the touched pages' faults as "ret +N", the
# exceptions with the handler they went to.
"$krr" timeline "$trace" --kind exception >"$work/exceptions.txt"
handler=$(tr -d '\r' <"$work/record.out" | sed -n 's/.* handler \(0x[0-9a-f]*\)$/\1/p')
n=$(grep -cE "invalid_op \(vector 6\) at 0x[0-9a-f]+ ret \+[0-9]+ to $handler\$" "$work/exceptions.txt" || true)
[[ $n -eq 8 ]] || fail "text: $n of 8 exceptions show their return: $(head -3 "$work/exceptions.txt")"
echo "ok: krr timeline returns"
