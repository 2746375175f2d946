#!/usr/bin/env bash
# End to end: one samples/bugs/ sample on the default guest. Builds kmod/
# with kmod/build-kmod and the reproducer with gcc -static into WORKDIR,
# boots `krr run --module ... --file repro:/repro --append CMDLINE -- /repro`
# and checks that the kernel crashed (krr exits 125) with the sample's crash
# line on the console. Then `krr repro` records the sample until it crashes
# and confirms the crash by a verified replay (the same crash line at the
# same instruction count). Prints the wall time of both.
set -euo pipefail

krr=${1:?usage: bug_sample_test.sh KRR SAMPLE_DIR KMOD_DIR WORKDIR}
sample=${2:?}
kmod=${3:?}
work=${4:?}
name=$(basename "$sample")

fail() {
    echo "FAIL: $name: $*" >&2
    exit 1
}

# The value of KEY in the sample's bug.conf ("key: value", '#' comments).
conf() {
    sed -n "s/^$1:[[:space:]]*//p" "$sample/bug.conf" | head -1
}

[[ -f $sample/bug.conf && -f $sample/repro.c ]] || fail "$sample: no bug.conf or repro.c"
crash=$(conf crash)
cmdline=$(conf cmdline)
module=$(conf module)
[[ -n $crash ]] || fail "bug.conf has no crash: line"

rm -rf "$work/$name"
mkdir -p "$work/$name"
dir=$work/$name
module_args=()
if [[ -n $module && $module != none ]]; then
    ko=$("$kmod/build-kmod" "$dir/kmod") || fail "kmod/build-kmod failed"
    [[ $(basename "$ko") == "$module.ko" && -s $ko ]] || fail "build-kmod gave '$ko'"
    module_args=(--module "$ko")
fi
gcc -static -O2 -pthread -o "$dir/repro" "$sample/repro.c" || fail "gcc failed"

start=$(date +%s.%N)
status=0
"$krr" run --timeout 600 "${module_args[@]}" --file "$dir/repro:/repro" --append "$cmdline" \
    -- /repro >"$dir/console" 2>"$dir/stderr" </dev/null || status=$?
end=$(date +%s.%N)
printf '%s: krr run exited %d after %.1f s\n' "$name" "$status" "$(echo "$end - $start" | bc)"
if [[ $status -ne 125 ]]; then
    tail -n 20 "$dir/console" "$dir/stderr" >&2
    fail "krr run exited $status; a crashed guest exits 125"
fi
grep -qE -- "$crash" "$dir/console" || {
    tail -n 40 "$dir/console" >&2
    fail "the console lacks /$crash/"
}
grep -q "Kernel panic - not syncing" "$dir/console" || fail "the console shows no panic"
echo "$name: crashed as expected: $(grep -m1 -E -- "$crash" "$dir/console")"

start=$(date +%s.%N)
status=0
"$krr" repro "$sample" -o "$dir/trace" >"$dir/report" 2>"$dir/repro.err" </dev/null || status=$?
end=$(date +%s.%N)
printf '%s: krr repro exited %d after %.1f s\n' "$name" "$status" "$(echo "$end - $start" | bc)"
cat "$dir/repro.err" "$dir/report"
[[ $status -eq 0 ]] || fail "krr repro exited $status"
title=$(conf title)
[[ $(head -1 "$dir/report") == "$title" ]] || fail "the report's first line is not the title '$title'"
grep -qE "^replayed:  verified in .* the crash line is printed at instruction [0-9]+ in both$" \
    "$dir/report" || fail "the report does not confirm the crash by replay"
grep -qE -- "^  .*($crash)" "$dir/report" || fail "the report does not quote the crash line"
grep -qE "^  Call Trace:$" "$dir/report" || fail "the report has no call trace"
[[ -f $dir/trace/metadata ]] || fail "no trace at $dir/trace"
