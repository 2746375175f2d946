#!/usr/bin/env bash
# End to end: boot the provisioned Debian kernel under QEMU with initramfs
# images from `krr image`, and check on the serial console that krr's init
# ran the command (uname -a must report the kernel's release, read here from
# the cache's directory name, which comes from the Debian package name), that
# --file and --module (a Debian module by name, and one built against the
# cache's headers) work, and that init's errors are readable.
# Missing QEMU or kernel is a failure naming ./scripts/setup, never a skip.
set -euo pipefail

krr=${1:?usage: guest_image_qemu_test.sh PATH/TO/krr}
cache=${KRR_CACHE:-$HOME/.cache/krr}
kernel=$cache/kernels/default/vmlinuz

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

command -v qemu-system-x86_64 >/dev/null ||
    fail "qemu-system-x86_64 not found; run ./scripts/setup (it installs qemu-system-x86)"
[[ -s $kernel ]] || fail "$kernel: missing; run ./scripts/setup to provision the default guest"
release=$(basename "$(readlink "$cache/kernels/default")")
[[ $release == 6.1.* ]] || fail "$cache/kernels/default: unexpected release '$release'"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# boot NAME: boots $work/NAME.cpio, console output in $work/NAME.out.
boot() {
    local status=0
    # -icount ties guest time to instructions executed: without it, a busy
    # host makes the kernel's PIT and APIC timer calibration fail and boot hang.
    timeout 300 qemu-system-x86_64 -M microvm -accel tcg -icount shift=3 -m 256M \
        -nographic -no-reboot \
        -kernel "$kernel" -initrd "$work/$1.cpio" \
        -append "console=ttyS0 nokaslr tsc=unstable panic=-1" \
        </dev/null >"$work/$1.out" 2>&1 || status=$?
    [[ $status -eq 0 ]] || {
        tail -n 30 "$work/$1.out" >&2
        fail "$1: qemu exited with status $status (124: the guest did not power off in 300 s)"
    }
}

expect() {
    grep -qE -- "$2" "$work/$1.out" || {
        tail -n 30 "$work/$1.out" >&2
        fail "$1: the console lacks /$2/"
    }
}

"$krr" image -o "$work/uname.cpio" -- uname -a
# The same request gives the same bytes, and the system's cpio reads it.
"$krr" image -o "$work/again.cpio" -- uname -a
cmp -s "$work/uname.cpio" "$work/again.cpio" || fail "krr image: two runs gave different bytes"
command -v cpio >/dev/null || fail "cpio not found (Debian package cpio)"
listing=$(cpio -it --quiet <"$work/uname.cpio")
for entry in init bin/busybox bin/sh krr/command dev/console etc/passwd; do
    grep -qx "$entry" <<<"$listing" || fail "krr image: the archive lacks $entry"
done
# Errors are one line, "krr: <what>: <why>", with a non-zero exit.
check_error() {
    local expected=$1
    shift
    local status=0
    "$krr" image "$@" 2>"$work/error" >/dev/null || status=$?
    [[ $status -ne 0 ]] || fail "krr image $*: succeeded; expected an error"
    grep -qF -- "$expected" "$work/error" || fail "krr image $*: said '$(cat "$work/error")'"
}
check_error "krr: image: -o FILE is required" -- true
check_error "krr: --file $work/nope: No such file or directory" -o "$work/x" --file "$work/nope"
check_error "krr: module: no_such_module: no no_such_module.ko in" -o "$work/x" \
    --module no_such_module
boot uname
expect uname "^Linux \(none\) $release #1 SMP .* x86_64 GNU/Linux"
# init prints nothing of its own on success.
if grep -q 'krr-init' "$work/uname.out"; then
    fail "uname: init reported an error"
fi

# shellcheck disable=SC2016 # expanded by the guest shell, not here
printf '#!/bin/sh\necho "files: $(cat /data/message) $(stat -c %%a /data/message)"\n' >"$work/check"
chmod 755 "$work/check"
printf 'hello from the host' >"$work/message"
chmod 640 "$work/message"
# An out-of-tree module built against the cache's headers, as kmod/ does.
mkdir "$work/mod"
cat >"$work/mod/krr_hello.c" <<'C'
#include <linux/module.h>
static int __init krr_hello_init(void) { pr_info("krr_hello: loaded\n"); return 0; }
static void __exit krr_hello_exit(void) {}
module_init(krr_hello_init);
module_exit(krr_hello_exit);
MODULE_LICENSE("GPL");
C
echo 'obj-m := krr_hello.o' >"$work/mod/Kbuild"
make -s -C "$cache/kernels/default/build" M="$work/mod" modules >"$work/make.log" 2>&1 || {
    cat "$work/make.log" >&2
    fail "building a module against $cache/kernels/default/build failed"
}

"$krr" image -o "$work/files.cpio" --file "$work/check" --file "$work/message:/data/" \
    --module crc7 --module "$work/mod/krr_hello.ko" \
    -- sh -c '/check; grep -cE "^(crc7|krr_hello) " /proc/modules | sed "s/^/modules: /"'
boot files
expect files "^files: hello from the host 640"
expect files "^modules: 2"
expect files "krr_hello: loaded"

"$krr" image -o "$work/missing.cpio" -- /no/such/command
boot missing
expect missing "krr-init: /no/such/command: No such file or directory"

echo "ok: $release booted; uname, --file, --module and init errors checked"
