#!/usr/bin/env bash
# kernel/check-config must pass a .config that kept every requested option and
# fail, naming each one, when Kconfig dropped or changed any of them.
#   check_config_test.sh PATH/TO/kernel/check-config
set -uo pipefail
check=${1:?usage: check_config_test.sh CHECK_CONFIG}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
expect() {
    local what=$1 want_status=$2 got_status=$3
    if [ "$want_status" != "$got_status" ]; then
        echo "FAIL: $what: exit status $got_status, expected $want_status"
        failures=$((failures + 1))
    fi
}
expect_line() {
    local what=$1 line=$2 file=$3
    if ! grep -qxF -- "$line" "$file"; then
        echo "FAIL: $what: no line '$line' in:"
        cat "$file"
        failures=$((failures + 1))
    fi
}

cat >"$work/base.config" <<'F'
# a comment, and a blank line

CONFIG_SMP=y
CONFIG_NR_CPUS=8
# CONFIG_X86_X2APIC is not set
CONFIG_LOCALVERSION="-base"
F
cat >"$work/profile.config" <<'F'
CONFIG_KASAN=y
CONFIG_LOCALVERSION="-profile"
F

# Everything kept; the later fragment's LOCALVERSION is the one asked for.
cat >"$work/good" <<'F'
CONFIG_SMP=y
CONFIG_NR_CPUS=8
# CONFIG_X86_X2APIC is not set
CONFIG_LOCALVERSION="-profile"
CONFIG_KASAN=y
CONFIG_OTHER=y
F
"$check" "$work/good" "$work/base.config" "$work/profile.config" >"$work/out" 2>&1
expect "all kept" 0 $?
[ -s "$work/out" ] && { echo "FAIL: all kept: unexpected output:"; cat "$work/out"; failures=$((failures + 1)); }

# An "is not set" request satisfied by the option's absence.
grep -v X2APIC "$work/good" >"$work/absent"
"$check" "$work/absent" "$work/base.config" "$work/profile.config" >"$work/out" 2>&1
expect "absent counts as not set" 0 $?

# Dropped, changed, and switched on against the request: one line each.
cat >"$work/bad" <<'F'
CONFIG_SMP=y
CONFIG_NR_CPUS=4
CONFIG_X86_X2APIC=y
CONFIG_LOCALVERSION="-base"
# CONFIG_KASAN is not set
F
"$check" "$work/bad" "$work/base.config" "$work/profile.config" >"$work/out" 2>&1
expect "dropped options" 1 $?
expect_line "changed value" "dropped: CONFIG_NR_CPUS=8 (got: CONFIG_NR_CPUS=4)" "$work/out"
expect_line "unwanted option" "dropped: # CONFIG_X86_X2APIC is not set (got: CONFIG_X86_X2APIC=y)" "$work/out"
expect_line "override" 'dropped: CONFIG_LOCALVERSION="-profile" (got: CONFIG_LOCALVERSION="-base")' "$work/out"
expect_line "dropped option" "dropped: CONFIG_KASAN=y (got: # CONFIG_KASAN is not set)" "$work/out"
[ "$(wc -l <"$work/out")" -eq 4 ] || { echo "FAIL: expected 4 lines:"; cat "$work/out"; failures=$((failures + 1)); }

# Unreadable input is an error, not a pass.
"$check" "$work/missing" "$work/base.config" >"$work/out" 2>&1
expect "missing .config" 2 $?

# The project's own fragments parse: each asks for at least one option, and a
# .config made of exactly their requests passes.
fragments=$(dirname "$check")/configs
cat "$fragments/krr-base.config" "$fragments/debug.config" "$fragments/syzbot.config" |
    grep -E '^(CONFIG_|# CONFIG_.* is not set$)' >"$work/exact"
[ "$(grep -c '^CONFIG_' "$work/exact")" -gt 50 ] || { echo "FAIL: fragments ask for too little"; failures=$((failures + 1)); }
"$check" "$work/exact" "$fragments/krr-base.config" "$fragments/debug.config" "$fragments/syzbot.config" >"$work/out" 2>&1
expect "project fragments against their own requests" 0 $?

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "check-config: all checks passed"
