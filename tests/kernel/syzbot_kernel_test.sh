#!/usr/bin/env bash
# Checks the kernel `krr kernel build` made (docs/kernel-build.md). Not part of
# the meson suite: it needs that kernel, which takes a long build. Run it by
# hand after building:
#
#   tests/kernel/syzbot_kernel_test.sh BUILD_DIR [PROFILE]     (default: syzbot)
#
# Without the kernel it prints SKIP and exits 77, which is never a pass.
set -uo pipefail
build=${1:?usage: syzbot_kernel_test.sh BUILD_DIR [PROFILE]}
profile=${2:-syzbot}
krr=$(cd "$build" && pwd)/krr
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${KRR_CACHE:-$HOME/.cache/krr}
kernel=$cache/kernels/$profile
if [ ! -f "$kernel/vmlinuz" ]; then
    echo "SKIP: no $profile kernel in the cache (./scripts/setup --syzbot-kernel)"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() {
    echo "ok: $*"
}

fragments=("$root/kernel/configs/krr-base.config" "$root/kernel/configs/debug.config")
[ "$profile" = syzbot ] && fragments+=("$root/kernel/configs/syzbot.config")

# 1. The installed kernel carries every option its profile asks for.
if "$root/kernel/check-config" "$kernel/config" "${fragments[@]}" >"$work/check" 2>&1; then
    pass "config: every option of the ${#fragments[@]} fragments"
else
    fail "config:"; cat "$work/check"
fi

# 2. vmlinux has DWARF, and System.map matches it.
readelf -S -W "$kernel/vmlinux" >"$work/sections"
if grep -q ' \.debug_info ' "$work/sections"; then
    pass "vmlinux has .debug_info"
else
    fail "vmlinux has no .debug_info"
fi
want=$(awk '$3 == "start_kernel" { print $1 }' "$kernel/System.map")
got=$(nm "$kernel/vmlinux" | awk '$3 == "start_kernel" { print $1 }')
if [ -n "$want" ] && [ "$want" = "$got" ]; then
    pass "System.map and vmlinux agree on start_kernel ($want)"
else
    fail "start_kernel: System.map '$want', vmlinux '$got'"
fi
release=$(strings "$kernel/build/include/config/kernel.release" 2>/dev/null)
case $release in
6.1.*-krr-$profile) pass "release $release" ;;
*) fail "kernel.release is '$release', expected 6.1.N-krr-$profile" ;;
esac

# 3. kmod/ builds against the kernel's module tree, for this release.
if KRR_KERNEL_BUILD=$kernel/build "$root/kmod/build-kmod" "$work/kmod" >"$work/kmod.out" 2>&1 &&
    grep -aq "vermagic=$release " "$work/kmod/krr_bugs.ko"; then
    pass "kmod/build-kmod: krr_bugs.ko for $release"
else
    fail "kmod/build-kmod:"; cat "$work/kmod.out"
fi

# 4. It boots under krr's emulator to user space, by name (--kernel PROFILE).
if timeout 900 "$krr" run --kernel "$profile" --stats -- uname -a >"$work/run.out" 2>&1 &&
    grep -q "Linux .* $release #1 SMP" "$work/run.out"; then
    pass "krr run --kernel $profile -- uname -a: $(grep -m1 '^Linux' "$work/run.out")"
    grep 'instructions in' "$work/run.out"
else
    fail "krr run --kernel $profile:"; tail -n 30 "$work/run.out"
fi

# 5. syzbot: a double free reported by KASAN, as syzbot titles it.
if [ "$profile" = syzbot ] && [ -f "$work/kmod/krr_bugs.ko" ]; then
    gcc -static -O2 -o "$work/repro" "$root/samples/bugs/buf-double-free/repro.c"
    timeout 900 "$krr" run --kernel syzbot --stats --module "$work/kmod/krr_bugs.ko" \
        --file "$work/repro:/repro" --append "panic_on_warn=1" -- /repro >"$work/kasan.out" 2>&1
    # KASAN names the free site (kfree); syzkaller's title skips the
    # allocator's frames and names the caller, krr_bugs_release.
    if grep -q "^BUG: KASAN: double-free in " "$work/kasan.out" &&
        grep -q "^ krr_bugs_release+" "$work/kasan.out" &&
        grep -q "Kernel panic - not syncing: KASAN: panic_on_warn set" "$work/kasan.out"; then
        pass "buf-double-free: $(grep -m1 '^BUG: KASAN' "$work/kasan.out"), from krr_bugs_release; panic"
        grep 'instructions in' "$work/kasan.out"
    else
        fail "buf-double-free: no KASAN double-free report from krr_bugs_release:"
        grep -m5 -E "BUG|panic" "$work/kasan.out"
        tail -n 5 "$work/kasan.out"
    fi
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "$profile kernel: all checks passed"
