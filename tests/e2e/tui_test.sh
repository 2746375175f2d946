#!/usr/bin/env bash
# End to end: krr-tui in tmux (issue 10). A crashing bug sample is recorded
# with krr repro; krr-tui is driven with keys and the captured screen is
# checked: c finds the crash line krr repro reported, at the same count; a
# search finds a system call and the detail pane names entry_SYSCALL_64; a
# page fault's detail names asm_exc_page_fault; g, G, f, n, ?, o and q do
# what the help says; resizing redraws every pane where the layout puts it;
# colour appears only on a terminal that has it; --system-map and --vmlinux
# replace the kernel's files; bad flags and missing files are refused.
# Usage: tui_test.sh KRR KRR_TUI SAMPLES_DIR WORKDIR
set -euo pipefail

krr=${1:?usage: tui_test.sh KRR KRR_TUI SAMPLES_DIR WORKDIR}
tui=${2:?}
samples=${3:?}
work=${4:?}
socket=krr-tui-test-$$
T() { tmux -L "$socket" "$@"; }
started_pids=()
cleanup() {
    T kill-server 2>/dev/null || true
    for pid in "${started_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    echo "--- screen:" >&2
    T capture-pane -p -t tui >&2 2>/dev/null || true
    exit 1
}
screen() { T capture-pane -p -t tui; }
# wait_for PATTERN [SECONDS]: until the screen shows PATTERN (grep -E).
wait_for() {
    local deadline=$((SECONDS + ${2:-30}))
    while ((SECONDS < deadline)); do
        screen | grep -qE -- "$1" && return 0
        sleep 0.2
    done
    fail "the screen never showed /$1/"
}
# The detail pane is filled once the replay reached the selected event.
wait_detail() { wait_for '^at [^ ]+ \(0x' 60; }
row() { screen | sed -n "$(($1 + 1))p"; }
selected() { screen | grep -m1 '^>'; }
start_tui() { # start_tui COLUMNS LINES TERM
    T kill-session -t tui 2>/dev/null || true
    T new-session -d -x "$1" -y "$2" -s tui \
        "TERM=$3 '$tui' '$trace'; echo krr-tui exited \$?; sleep 600"
}

# Bad arguments: 'krr-tui: <what>: <why>', before any terminal is needed.
bad_args() { # EXPECTED_MESSAGE ARGS...
    local want=$1 status=0
    shift
    "$tui" "$@" </dev/null >/dev/null 2>"$work.err" || status=$?
    [[ $status -ne 0 ]] && grep -qF "krr-tui: $want" "$work.err" ||
        fail "krr-tui $*: status $status, said: $(cat "$work.err")"
}
bad_args '--bogus: unknown option' some.trace --bogus
bad_args '--system-map: needs a FILE' some.trace --system-map
bad_args "--system-map $work/no-such-map: cannot read it" some.trace --system-map "$work/no-such-map"
bad_args "--vmlinux $work/no-such-vmlinux: cannot read it" some.trace --vmlinux="$work/no-such-vmlinux"
rm -f "$work.err"
echo "ok: bad flags and missing files are refused"

command -v tmux >/dev/null || { echo "SKIP: tmux is not installed (scripts/setup installs it)"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
trace=$work/crash.trace
"$krr" repro "$samples/slot-oob-write" -o "$trace" >"$work/repro.out" 2>"$work/repro.err" ||
    fail "krr repro: $(tail -n 3 "$work/repro.err")"
crash_count=$(sed -n 's/.*the crash line is printed at instruction \([0-9]*\).*/\1/p' "$work/repro.out")
[[ -n $crash_count ]] || fail "krr repro named no crash count: $(cat "$work/repro.out")"

# A session that outlives each krr-tui session, so that replacing one does
# not race the tmux server's exit.
T -f /dev/null new-session -d -s keep 'sleep 3600'
start_tui 80 24 screen
wait_for '^krr-tui  event 1/' 120
wait_detail
[[ $(screen | wc -l) -eq 24 ]] || fail "not 24 rows"
# Inputs (UART status reads, mostly) are hidden until asked for.
row 0 | grep -q '\[all but input\]' || fail "the default filter is not 'all but input'"
screen | grep -qE '^[> ] +[0-9]+ input ' && fail "inputs shown by default"
screen >"$work/first.txt"

# c: the crash line, at the count krr repro found.
T send-keys -t tui c
wait_for '^> +[0-9]+ crash +CRASH: .*BUG kmalloc-64 '
selected | grep -q "^> *$crash_count crash" || fail "crash at $(selected), krr repro said $crash_count"
row 0 | grep -q "count $crash_count" || fail "header does not show the crash count"
wait_detail
# Where the crash line was written, for the --system-map check below.
crash_at=$(screen | grep -m1 '^at ')
crash_symbol=$(sed -n 's/^at \([A-Za-z0-9_.]*\)+0x[0-9a-f]* (0x.*/\1/p' <<<"$crash_at")
[[ -n $crash_symbol ]] || fail "the crash's detail names no symbol: $crash_at"
echo "ok: c selects the crash at $crash_count"

# / finds the system call; the detail pane is at the kernel's syscall entry.
T send-keys -t tui / 'ioctl(' Enter
wait_for '^> +[0-9]+ syscall +ioctl\('
wait_detail
screen | grep -q '^at entry_SYSCALL_64 (0x' || fail "detail pane does not name entry_SYSCALL_64"
screen | grep -qE '^rax 0000000000000010 ' || fail "rax is not ioctl's number 16"
screen | grep -qE '=> entry_SYSCALL_64 +swapgs' || fail "disassembly does not mark swapgs at RIP"
first_ioctl=$(selected)
T send-keys -t tui n
sleep 0.5
wait_for '^> +[0-9]+ syscall +ioctl\('
[[ $(selected) != "$first_ioctl" ]] || fail "n stayed on the same ioctl"
T send-keys -t tui N
wait_for '^> +[0-9]+ syscall +ioctl\('
[[ $(selected) == "$first_ioctl" ]] || fail "N did not come back to the first ioctl"
echo "ok: / finds ioctl, detail at entry_SYSCALL_64, n and N move between matches"

# f: only page faults; the detail names the page-fault handler.
T send-keys -t tui f page-fault Enter
wait_for '\[page-fault\]'
screen | sed -n '5,11p' | grep -v '^.  *[0-9]* page-fault ' && fail "f page-fault shows other kinds"
wait_detail
screen | grep -q '^at asm_exc_page_fault (0x' || fail "page fault detail not at asm_exc_page_fault"
fault_address=$(selected | sed -n 's/.*page fault at 0x\([0-9a-f]*\) .*/\1/p')
screen | grep -q "cr2 $(printf '%016x' "0x$fault_address")" ||
    fail "cr2 in the detail pane is not the fault address 0x$fault_address"
T send-keys -t tui f n Enter
wait_for '\[input\]'
wait_for '^> +[0-9]+ input +port-read '
T send-keys -t tui f Enter
wait_for '\[all\]'
echo "ok: f filters, page-fault detail at asm_exc_page_fault"

# g and G.
T send-keys -t tui g 0 Enter
wait_for '^krr-tui  event 1/'
T send-keys -t tui G
wait_for '^krr-tui  event ([0-9]+)/\1 '
echo "ok: g and G"

# Resize: every pane where the layout puts it, at each size and back.
# layout_problem COLUMNS LINES: what is out of place, or nothing.
layout_problem() {
    local cols=$1 lines=$2 shot
    shot=$(screen)
    at() { sed -n "$(($1 + 1))p" <<<"$shot"; }
    [[ $(wc -l <<<"$shot") -eq $lines ]] || { echo "not $lines rows"; return; }
    at 0 | grep -q '^krr-tui ' || { echo "header row"; return; }
    # From 40 lines the strip has a row per kind shown (all 8 here) and the
    # cursor row; below, kind letters, density and the cursor row.
    local strip=3
    ((lines >= 40)) && strip=9
    at "$strip" | grep -q '\^' || { echo "no cursor on the strip's last row"; return; }
    if ((lines >= 40)); then
        local k=1
        for letter in s x p i w c n '!'; do
            at $k | grep -qE "^[$letter]( |$)" || { echo "strip row $k is not kind $letter"; return; }
            k=$((k + 1))
        done
    fi
    local free=$((lines - 4 - strip)) detail console list
    detail=$((free * 35 / 100)); ((detail < 5)) && detail=5; ((detail > 12)) && detail=12
    console=$((free * 25 / 100)); ((console < 3)) && console=3; ((console > 12)) && console=12
    list=$((free - detail - console))
    local first=$((1 + strip))
    at $((first + list)) | grep -q '^-- detail' ||
        { echo "detail title not at row $((first + list))"; return; }
    at $((first + 1 + list + detail)) | grep -q '^-- console' ||
        { echo "console title not at row $((first + 1 + list + detail))"; return; }
    at $((lines - 1)) | grep -q '? help' || { echo "status line"; return; }
    local widest
    widest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' <<<"$shot")
    ((widest <= cols)) || { echo "a row of $widest columns"; return; }
}
# The screen follows a resize once krr-tui is idle (a detail may be replaying).
check_layout() { # COLUMNS LINES
    local deadline=$((SECONDS + 60)) problem
    while ((SECONDS < deadline)); do
        problem=$(layout_problem "$1" "$2")
        [[ -z $problem ]] && return 0
        sleep 0.3
    done
    fail "$1 x $2: $problem"
}
check_layout 80 24
for size in "120 40" "100 30" "80 24"; do
    read -r cols lines <<<"$size"
    T resize-window -t tui -x "$cols" -y "$lines"
    sleep 0.5
    check_layout "$cols" "$lines"
done
T resize-window -t tui -x 50 -y 15
wait_for 'needs at least 60x20'
T resize-window -t tui -x 80 -y 24
check_layout 80 24
echo "ok: resize keeps the layout (80x24, 120x40, 100x30, too small, back)"

# ?: the help lists every key.
T send-keys -t tui '?'
wait_for 'krr-tui keys'
for key in 'j k' 'PgDn' 'Home End' '^\| g ' '^\| G ' '^\| c ' '^\| f ' '^\| / ' '^\| o ' '^\| \? ' '^\| q '; do
    screen | sed 's/^[^|]*//' | grep -qE -- "$key" || fail "help lacks $key"
done
T send-keys -t tui x
sleep 0.3

# o: the commands for this count; s starts the server as a child.
T send-keys -t tui c
wait_for '^> +[0-9]+ crash'
T send-keys -t tui o
wait_for 'Open gdb at instruction count'
# Shown whole, continued on the next lines when wider than the screen.
# The popup's text: between its borders, wherever the layout put it (the
# screen behind it shows on either side), spaces dropped before comparing
# because a long command continues on the next line.
popup_text() {
    screen | awk '
        !l && match($0, /\+-+\+/) { l = RSTART; r = RSTART + RLENGTH - 1; next }
        l && substr($0, l, 1) == "|" && substr($0, r, 1) == "|" { printf "%s", substr($0, l + 1, r - l - 1) }'
}
popup_text=$(popup_text)
want="krr gdbserver $trace --at $crash_count"
[[ ${popup_text//[[:space:]]/} == *"${want//[[:space:]]/}"* ]] ||
    fail "o: no whole gdbserver command in: $popup_text"
screen | grep -qF "gdb -ex 'target remote :1234' " || fail "o: no gdb command"
T send-keys -t tui s
wait_for 'gdbserver started \(pid [0-9]+'
pid=$(screen | sed -n 's/.*gdbserver started (pid \([0-9]*\).*/\1/p')
started_pids+=("$pid")
# Not left listening on the usual port while other tests run.
kill "$pid" 2>/dev/null || true
server_log=$(screen | tr -d '\n' | sed -n 's/.*output in \(\/tmp\/krr-tui-gdbserver-[A-Za-z0-9]*\).*/\1/p')
[[ -n $server_log && -f $server_log ]] || fail "no server log named"
rm -f "$server_log"
echo "ok: o shows the commands, s started the server (pid $pid)"

# q quits and leaves the commands on the terminal.
T send-keys -t tui q
wait_for 'krr-tui exited 0'
screen | grep -qF "krr gdbserver $trace --at $crash_count" || fail "q: commands not printed"
echo "ok: q quits and prints the gdb commands"

# Colour only where the terminal has it.
start_tui 80 24 xterm-256color
wait_for '^krr-tui ' 60
wait_detail
T capture-pane -e -p -t tui | grep -q $'\e\\[[0-9;]*3[0-7]m\|\e\\[[0-9;]*38;5' ||
    fail "no colour on xterm-256color"
start_tui 80 24 vt100
wait_for '^krr-tui ' 60
wait_detail
T capture-pane -e -p -t tui | grep -q $'\e\\[[0-9;]*3[0-7]m' && fail "colour on vt100"
screen | grep -q '^> ' || fail "vt100: no selection marker"
echo "ok: colour on xterm-256color, none on vt100"

# --system-map and --vmlinux, as for a trace moved away from its kernel:
# a copy of the System.map with the crash's symbol renamed names it in the
# detail pane, and a vmlinux without DWARF gives no source line there but
# is the one the gdb command loads. (The index is rebuilt for that map.)
map=$(dirname "$("$krr" info "$trace" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["path"])')")/System.map
moved=$work/moved
mkdir -p "$moved"
sed "s/ $crash_symbol\$/ moved_$crash_symbol/" "$map" >"$moved/System.map"
cp /bin/true "$moved/vmlinux"
T kill-session -t tui 2>/dev/null || true
T new-session -d -x 80 -y 24 -s tui \
    "TERM=screen '$tui' '$trace' --system-map '$moved/System.map' --vmlinux '$moved/vmlinux'; echo krr-tui exited \$?; sleep 600"
wait_for '^krr-tui  event 1/' 120
T send-keys -t tui c
wait_for '^> +[0-9]+ crash'
wait_detail
moved_at=$(screen | grep -m1 '^at ')
[[ $moved_at == "at moved_$crash_symbol+"* ]] || fail "--system-map: detail says '$moved_at'"
# With the kernel's own vmlinux the same line had its source line.
source_line=' [^ ]+:[0-9]+$'
[[ $crash_at =~ $source_line ]] || fail "no source line at the crash with the kernel's vmlinux: $crash_at"
[[ ! $moved_at =~ $source_line ]] || fail "--vmlinux without DWARF, yet a source line: $moved_at"
T send-keys -t tui o
wait_for 'Open gdb at instruction count'
popup_text=$(popup_text)
want="gdb -ex 'target remote :1234' $moved/vmlinux"
[[ ${popup_text//[[:space:]]/} == *"${want//[[:space:]]/}"* ]] ||
    fail "--vmlinux: the gdb command does not load $moved/vmlinux: $popup_text"
T send-keys -t tui x q
wait_for 'krr-tui exited 0'
echo "ok: --system-map names the crash's symbol moved_$crash_symbol, --vmlinux is the one gdb loads"
echo "ok: krr-tui"
