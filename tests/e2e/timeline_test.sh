#!/usr/bin/env bash
# End to end: krr timeline (issue 10). A workload that calls getpid exactly
# 17 times, with a marker in RDI, is recorded; the activity index must list
# those 17 calls once each, in order, inside the run, with the name from the
# syscall table. The index is cached in the trace (a second run reads it; a
# damaged cache is rebuilt to the same events); filters and bad input behave.
# Usage: timeline_test.sh KRR GETPID_WORKLOAD WORKDIR
set -euo pipefail

krr=${1:?usage: timeline_test.sh KRR GETPID_WORKLOAD WORKDIR}
workload=${2:?}
work=${3:?}
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
rm -rf "$work"
mkdir -p "$work"
trace=$work/getpid.trace

"$krr" record -o "$trace" --file "$workload:/getpid" -- /getpid </dev/null \
    >"$work/record.out" 2>"$work/record.err" || fail "record: $(tail -n 3 "$work/record.err")"
grep -q "getpid called 17 times" "$work/record.out" || fail "the workload did not run"

start=$(date +%s.%N)
"$krr" timeline "$trace" --json >"$work/all.json" 2>"$work/timeline.err" ||
    fail "timeline: $(cat "$work/timeline.err")"
end=$(date +%s.%N)
[[ -f $trace/activity ]] || fail "the index was not cached in the trace"
echo "indexed in $(python3 -c "print(round($end - $start, 1))") s"

check_getpid() {
    python3 - "$1" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
events = doc["events"]
counts = [e["count"] for e in events]
assert counts == sorted(counts), "events are not in time order"
assert all(doc["start"] <= c <= doc["end"] for c in counts), "event outside the trace"
marked = [e for e in events if e["kind"] == "syscall" and e["number"] == 39
          and (e["args"][0] >> 8) == 0x6b7272]
assert len(marked) == 17, f"{len(marked)} marked getpid calls, expected 17"
assert [e["args"][0] & 0xff for e in marked] == list(range(17)), \
    "marked getpid calls out of order: " + str([e["args"][0] & 0xff for e in marked])
assert all(e["name"] == "getpid" for e in marked), "getpid not named"
assert all(e["task"] for e in events if e["kind"] == "syscall"), "a syscall without its task"
# After its execve the caller's task is named after the program.
# Each call returned the caller's pid, as its task name says.
pid = int(marked[0]["task"].split("[")[1].rstrip("]"))
assert all(e.get("result") == pid for e in marked), \
    "getpid results " + str([e.get("result") for e in marked]) + f", pid {pid}"
assert all(e["count"] < e["returned_at"] for e in marked), "returned before the call"
assert all(a["returned_at"] < b["count"] for a, b in zip(marked, marked[1:])), \
    "a call returned after the next was made"
tasks = {e["task"] for e in marked}
assert len(tasks) == 1 and tasks.pop().startswith("getpid["), "callers: " + str({e["task"] for e in marked})
assert all(a["count"] < b["count"] for a, b in zip(marked, marked[1:])), "counts not increasing"
execs = [e for e in events if e["kind"] == "syscall" and e["name"] == "execve"]
assert execs and execs[0]["count"] < marked[0]["count"], "no execve before the calls"
exits = [e for e in events if e["kind"] == "syscall" and e["name"] == "exit_group"
         and e["count"] > marked[-1]["count"]]
assert exits, "no exit_group after the calls"
lines = [e["line"] for e in events if e["kind"] == "console"]
assert any("getpid called 17 times" in l for l in lines), "console line missing"
kinds = {e["kind"] for e in events}
for k in ("syscall", "page-fault", "switch", "console"):
    assert k in kinds, f"no {k} events"
print(f"ok: {len(events)} events, 17 marked getpid calls in order")
PY
}
check_getpid "$work/all.json" || fail "index content"

# Cached: the second run reads the file (and says the same).
"$krr" timeline "$trace" --json >"$work/again.json"
cmp -s "$work/all.json" "$work/again.json" || fail "second run differs"

# A damaged cache is refused and rebuilt to the same events.
printf 'garbage' | dd of="$trace/activity" bs=1 seek=40 conv=notrunc status=none
"$krr" timeline "$trace" --json >"$work/rebuilt.json" || fail "rebuild after damage"
cmp -s "$work/all.json" "$work/rebuilt.json" || fail "rebuilt index differs"

# A stale cache (another trace's index, valid in itself) is rebuilt, not
# believed: the index of a trace of `true` put in its place.
"$krr" record -o "$work/other.trace" -- true </dev/null >/dev/null 2>"$work/other.err" ||
    fail "record true: $(tail -n 3 "$work/other.err")"
"$krr" timeline "$work/other.trace" >/dev/null || fail "timeline of the other trace"
cp "$work/other.trace/activity" "$trace/activity"
"$krr" timeline "$trace" --json >"$work/restale.json" || fail "rebuild after stale"
cmp -s "$work/all.json" "$work/restale.json" || fail "a stale index was believed"

# Without a System.map: no kernel entries, but the console and a note; the
# index keyed by that map is then stale for the real one.
"$krr" timeline "$trace" --json --system-map "$work/no-such-map" >"$work/nomap.json" ||
    fail "timeline without a System.map"
python3 - "$work/nomap.json" <<'PY' || fail "index without symbols"
import json, sys
doc = json.load(open(sys.argv[1]))
kinds = {e["kind"] for e in doc["events"]}
assert not kinds & {"syscall", "page-fault", "switch"}, kinds
assert "console" in kinds, kinds
assert any("skipped" in n and "no-such-map" in n for n in doc["notes"]), doc["notes"]
PY
"$krr" timeline "$trace" --json >"$work/withmap.json"
cmp -s "$work/all.json" "$work/withmap.json" || fail "the real System.map did not rebuild the index"

# Filters: kind and range.
"$krr" timeline "$trace" --kind syscall,console >"$work/text.txt"
grep -q ' getpid(0x6b727200, ' "$work/text.txt" || fail "text output lacks getpid"
awk '{print $2}' "$work/text.txt" | sort -u | tr '\n' ' ' | grep -qx 'console syscall ' ||
    fail "--kind syscall,console printed other kinds"
first=$(python3 -c "import json;e=[x for x in json.load(open('$work/all.json'))['events'] if x['kind']=='syscall' and x['number']==39 and x['args'][0]>>8==0x6b7272];print(e[3]['count'], e[5]['count'])")
read -r from to <<<"$first"
n=$("$krr" timeline "$trace" --kind syscall --from "$from" --to "$to" | grep -c ' getpid(0x6b7272')
[[ $n -eq 3 ]] || fail "--from/--to kept $n marked calls, expected 3"

# Bad input: a clear error, non-zero exit.
status=0
"$krr" timeline "$trace" --kind nonsense 2>"$work/bad.err" || status=$?
[[ $status -ne 0 ]] && grep -q "krr: timeline: --kind nonsense: unknown kind" "$work/bad.err" ||
    fail "bad --kind: $(cat "$work/bad.err")"
status=0
"$krr" timeline "$work/missing" 2>"$work/missing.err" || status=$?
[[ $status -ne 0 ]] && grep -q "^krr: " "$work/missing.err" || fail "missing trace accepted"
echo "ok: krr timeline"
