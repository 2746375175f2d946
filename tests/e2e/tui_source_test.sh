#!/usr/bin/env bash
# End to end: krr-tui's source lines from a kernel with DWARF (issue 10).
# The getpid workload is recorded on the syzbot kernel (its vmlinux has
# DWARF); krr-tui runs in tmux; for a system call (the entry code, an
# assembly file) and for the workload's console line (written by the serial
# driver, C) the detail pane's file:line must be what addr2line says for the
# address the pane shows.
# Without the syzbot kernel in the cache it prints SKIP, how to build it,
# and exits 77 (meson: skipped). About 40 s: the recording takes 25.
# Usage: tui_source_test.sh KRR KRR_TUI GETPID_WORKLOAD WORKDIR
set -euo pipefail

krr=${1:?usage: tui_source_test.sh KRR KRR_TUI GETPID_WORKLOAD WORKDIR}
tui=${2:?}
workload=${3:?}
work=${4:?}
kernel=${KRR_CACHE:-$HOME/.cache/krr}/kernels/syzbot
for f in vmlinuz vmlinux System.map; do
    if [[ ! -e $kernel/$f ]]; then
        echo "SKIP: no syzbot kernel in the cache ($kernel/$f); build it once with" \
            "./scripts/setup --syzbot-kernel (or krr kernel build; about 16 min on 2 cores)"
        exit 77
    fi
done
for tool in tmux addr2line; do
    command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (scripts/setup installs it)"; exit 77; }
done
socket=krr-tui-source-test-$$
T() { tmux -L "$socket" "$@"; }
trap 'T kill-server 2>/dev/null || true' EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- screen:" >&2
    T capture-pane -p -t tui >&2 2>/dev/null || true
    exit 1
}
screen() { T capture-pane -p -t tui; }
wait_for() { # PATTERN [SECONDS]
    local deadline=$((SECONDS + ${2:-30}))
    while ((SECONDS < deadline)); do
        screen | grep -qE -- "$1" && return 0
        sleep 0.2
    done
    fail "the screen never showed /$1/"
}
rm -rf "$work"
mkdir -p "$work"
trace=$work/getpid-syzbot.trace
"$krr" record --kernel syzbot -o "$trace" --file "$workload:/getpid" -- /getpid </dev/null \
    >"$work/record.out" 2>"$work/record.err" || fail "record: $(tail -n 3 "$work/record.err")"
grep -q "getpid called 17 times" "$work/record.out" || fail "the workload did not run"

# The detail pane's first line: "at SYMBOL+OFF (0xADDRESS)  FILE:LINE".
# check_source WHAT: FILE:LINE is addr2line's for ADDRESS (whose path goes
# on from the kernel tree's top, where krr-tui cuts it).
check_source() {
    local what=$1 at address shown expected
    wait_for '^at [^ ]+ \(0x' 120
    at=$(screen | grep -m1 '^at ')
    address=$(sed -n 's/^at [^ ]* (\(0x[0-9a-f]*\)).*/\1/p' <<<"$at")
    shown=$(sed -n 's/^at [^ ]* (0x[0-9a-f]*)  *\([^ ]*:[0-9]*\)$/\1/p' <<<"$at")
    [[ -n $address && -n $shown ]] || fail "$what: no address and source line in '$at'"
    expected=$(addr2line -e "$kernel/vmlinux" "$address" | sed 's/ (discriminator [0-9]*)//')
    [[ $expected == */"$shown" ]] || fail "$what: the pane says $shown at $address, addr2line $expected"
    echo "ok: $what at $address: $shown (addr2line: $expected)"
}

# Wide enough for a long source path beside the symbol.
T -f /dev/null new-session -d -x 160 -y 40 -s tui "TERM=screen '$tui' '$trace'; sleep 600"
wait_for '^krr-tui  event 1/' 120
T send-keys -t tui / 'getpid(0x6b727203' Enter
wait_for '^> +[0-9]+ syscall +getpid\(0x6b727203'
check_source "getpid's system call"
T send-keys -t tui / 'getpid called 17 times' Enter
wait_for '^> +[0-9]+ console +getpid called 17 times'
check_source "the workload's console line"
T send-keys -t tui q
echo "ok: krr-tui source lines on the syzbot kernel"
