#!/bin/bash
# Boot-time benchmark: the default kernel and the same initramfs (running
# `uname -a`) under `krr run` and under Debian's QEMU with TCG (the named
# baseline), alternating, N times each; prints each time and the median
# wall-time ratio krr/QEMU, and krr's emulation speed in instructions per
# second. Both get the kernel command line krr uses (QEMU without acpi=off).
# Usage: benchmarks/boot_vs_qemu.sh [BUILD_DIR] [RUNS]
set -euo pipefail
build="${1:-build}"
runs="${2:-5}"
krr="$build/krr"
cache="${KRR_CACHE:-$HOME/.cache/krr}"
kernel="$cache/kernels/default/vmlinuz"
[ -x "$krr" ] || { echo "boot_vs_qemu: $krr not built" >&2; exit 1; }
[ -e "$kernel" ] || { echo "boot_vs_qemu: no default kernel; run ./scripts/setup" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot_vs_qemu: qemu-system-x86_64 missing" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$krr" image -o "$work/initrd" -- uname -a
cmdline=$("$krr" run --print-command-line)
# acpi=off describes krr's machine (MP tables, no ACPI); QEMU's microvm has
# ACPI, and without it the kernel finds no HPET/PM timer there and stalls.
qemu_cmdline=${cmdline/ acpi=off/}

now() { date +%s.%N; }
krr_times=()
qemu_times=()
mips=()
for i in $(seq "$runs"); do
    t0=$(now)
    "$krr" run --stats --initrd "$work/initrd" >"$work/krr.out" 2>"$work/krr.err" || true
    tk=$(now)
    grep -q "^Linux " "$work/krr.out" || { echo "boot_vs_qemu: krr run did not reach uname" >&2; exit 1; }
    # QEMU's TCG boot depends on host timing and now and then stalls in the
    # kernel's timer calibration: such a run is retried (and said), not timed.
    for attempt in 1 2 3; do
        t1=$(now)
        timeout 60 qemu-system-x86_64 -M microvm -accel tcg -cpu qemu64 -m 256M -nographic \
            -no-reboot -kernel "$kernel" -initrd "$work/initrd" -append "$qemu_cmdline" \
            >"$work/qemu.out" 2>&1 || true
        t2=$(now)
        grep -q "Linux (none)" "$work/qemu.out" && break
        echo "run $i: QEMU did not reach uname within 60 s (attempt $attempt): $(tail -1 "$work/qemu.out")"
        [ "$attempt" -lt 3 ] || { echo "boot_vs_qemu: QEMU never reached uname" >&2; exit 1; }
    done
    krr_times+=("$(echo "$tk - $t0" | bc -l)")
    mips+=("$(sed -n 's/.*(\([0-9.]*\) MIPS).*/\1/p' "$work/krr.err" | head -1)")
    qemu_times+=("$(echo "$t2 - $t1" | bc -l)")
    printf "run %d: krr %.2f s (%s million instructions/s), qemu-tcg %.2f s\n" "$i" \
        "${krr_times[-1]}" "${mips[-1]}" "${qemu_times[-1]}"
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
mk=$(median "${krr_times[@]}")
mq=$(median "${qemu_times[@]}")
printf "median: krr %.2f s (%s million instructions/s), qemu-tcg %.2f s, ratio krr/qemu-tcg = %.2f\n" \
    "$mk" "$(median "${mips[@]}")" "$mq" "$(echo "$mk / $mq" | bc -l)"
