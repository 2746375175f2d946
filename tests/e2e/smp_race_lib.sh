# Shared by smp_record_test.sh and smp_record_kvm_test.sh (sourced): reading
# smp_race_workload's result lines and replaying a recording of it.

# smp_race_result CONSOLE: sets `outcome` (the workload's outcome line) and
# `cpus` (the CPUs its counters ran on, ascending, space-separated).
smp_race_result() {
    outcome=$(tr -d '\r' <"$1" | grep '^outcome: ')
    cpus=$(tr -d '\r' <"$1" | sed -n 's/^counters ran on cpus: //p' | tr ' ' '\n' | sort -n |
        tr '\n' ' ' | sed 's/ $//')
}

# replays_verified TRACE RECORDED_OUTCOME WORK: krr replay --verify TRACE
# (KRR), its console and stderr in WORK/rep.out and WORK/rep.err. Sets
# `replay_rc` and `replayed` (the replay's outcome line); true when the
# state hashes verified and the replay printed RECORDED_OUTCOME.
replays_verified() {
    "$krr" replay --verify "$1" >"$3/rep.out" 2>"$3/rep.err"
    replay_rc=$?
    replayed=$(tr -d '\r' <"$3/rep.out" | grep '^outcome: ')
    [ "$replay_rc" -eq 0 ] && grep -q "state hashes verified" "$3/rep.err" &&
        [ "$replayed" = "$2" ]
}
