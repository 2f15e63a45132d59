#!/usr/bin/env bash
# Planted-bug runs: each model must catch the bug it is meant to catch.
#
# For every row below, the runtime is run with one check removed (HETSCHED_LOOM_MUTATION,
# honoured only in `--cfg loom` builds) and the named model must FAIL with the expected
# message. A model that passes with its bug planted is reported and fails this script.
# One loom build serves all rows (the bug is picked at run time, not by a cfg).
#
# Usage: loom-tests/mutants.sh   (from anywhere; uses target/loom like the model run)
set -uo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUST_BACKTRACE=0

# mutation | test file | model | what the failure must say
MUTANTS=(
  "drop_recheck|park|work_pushed_while_the_last_worker_falls_asleep_is_picked_up|deadlock"
  "skip_sleep_recheck|park|work_pushed_while_the_last_worker_falls_asleep_is_picked_up|deadlock"
  "spin_leaves_a_searcher|park|work_pushed_while_the_last_worker_falls_asleep_is_picked_up|deadlock"
  "skip_sleep_recheck|park|work_pushed_while_the_last_worker_falls_asleep_at_once_is_picked_up|deadlock"
  "notify_unconditionally|park|an_idle_runtime_wakes_one_worker_per_push|must wake exactly one worker"
  "lone_yield_wakes_a_peer|park|a_lone_yielding_task_wakes_no_peer|a lone yield woke a peer"
  "lone_yield_ignores_the_first_choice|park|a_lone_yield_off_the_first_choice_wakes_it|did not wake the P worker"
  "inject_no_notify|wake|foreign_wakes_while_running_queued_and_after_completion|deadlock"
  "inject_no_notify|wake|task_and_foreign_thread_wake_the_same_task|deadlock"
  "no_inject_recheck|shutdown|shutdown_races_a_spawn_from_a_foreign_thread|deadlock"
  "no_inject_recheck|shutdown|shutdown_races_a_batch_spawn_from_a_foreign_thread|deadlock"
  "no_wake_all|shutdown|shutdown_races_a_wake_from_a_foreign_thread|deadlock"
  "no_register_on_pending|shutdown|shutdown_races_a_wake_from_a_foreign_thread|deadlock"
  "abort_no_wake|join|abort_wakes_a_waiting_task_and_a_foreign_thread_takes_the_result|deadlock"
  "e_takes_critical|lanes|critical_task_woken_on_an_efficiency_worker_runs_on_a_performance_worker|polled off a performance worker"
  "e_takes_critical|lanes|critical_task_woken_from_a_foreign_thread_runs_on_a_performance_worker|polled off a performance worker"
  "slots_unlimited|slots|at_most_one_e_worker_per_e_cpu_polls_shared_lane_work|two E workers polled Default work at once"
  "lend_no_recheck|lend|an_e_worker_is_never_left_lent_after_its_poll_ends|left on its lender's CPUs"
  "blind_check_first|lend|a_blind_sleeping_lender_is_nudged_by_a_waking_e_worker|nobody nudged it"
  "stuck_end_no_fence|stuck|a_reported_poll_always_marks_its_task|never marked"
  "stuck_claim_no_recheck|stuck|a_reported_poll_always_marks_its_task|never marked"
  "cpu_watch_epoch_after_set|cpu_watch|a_worker_always_settles_on_the_last_published_set|settled on a stale CPU set"
  "last_task_ref_keeps_the_runtime|task_refs|the_runtime_lives_exactly_as_long_as_its_last_reference|did not free it"
  "last_task_ref_skips_acquire|task_refs|the_runtime_lives_exactly_as_long_as_its_last_reference|Causality violation"
  "critical_takes_default|critical|default_work_never_reaches_the_critical_worker|the critical worker polled Default work"
  "default_wakes_critical|critical|default_work_never_reaches_the_critical_worker|Default work woke the critical worker"
  "critical_wakes_p_first|critical|critical_work_wakes_the_critical_worker_first|the P worker was woken for Critical work"
  "rescue_forgets_passed|escalation|a_rescue_races_the_efficiency_worker_and_loses_no_task|deadlock"
  "no_lifo_fallback|escalation|a_task_raised_in_a_lifo_slot_during_a_search_still_runs|deadlock"
  "timer_ignores_looking|timer|a_timer_set_while_the_driver_looks_or_sleeps_fires|deadlock"
  "timer_no_rescan|timer|a_timer_set_while_the_driver_looks_or_sleeps_fires|deadlock"
  "timer_reads_armed_first|timer|a_timer_later_than_the_drivers_deadline_fires_after_the_timed_wake|deadlock"
  "release_batch_forgets|join|detach_races_completion|Arc leaked"
  "raw_task_drops_wake_while_running|raw_task|a_wake_during_the_poll_schedules_the_task_again|deadlock"
  "raw_task_no_join_wake|raw_task|the_join_handle_gets_the_output_whatever_the_order|deadlock"
  "raw_task_waker_after_complete|raw_task|the_join_handle_gets_the_output_whatever_the_order|deadlock"
  "raw_task_detach_keeps_ref|raw_task|detach_races_completion|task memory leaked"
  "raw_task_rewrites_a_published_waker|raw_task|the_join_handle_gets_the_output_whatever_the_order|Causality violation"
  "raw_task_keeps_join_waker|raw_task|the_join_waker_is_let_go_when_the_handle_detaches|join waker kept alive"
  "raw_task_wake_trusts_a_load|raw_task|an_abort_racing_the_polls_start_cancels_the_task|deadlock"
  "raw_task_yield_forgets_scheduled|raw_task|a_yield_without_a_wake_is_scheduled_again_once|deadlock"
  "raw_task_lone_start_ignores_refs|raw_task|the_join_waker_is_let_go_when_the_handle_detaches|index out of bounds"
)

cargo test --release -p loom-tests --no-run -q || exit 1

survivors=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for row in "${MUTANTS[@]}"; do
    IFS='|' read -r mutation file model expected <<<"$row"
    HETSCHED_LOOM_MUTATION="$mutation" cargo test --release -q -p loom-tests --test "$file" \
        -- --exact "$model" >"$log" 2>&1
    status=$?
    if [ "$status" -ne 0 ] && grep -q -- "$expected" "$log"; then
        printf 'caught    %-24s by %s::%s (%s)\n' "$mutation" "$file" "$model" "$expected"
    else
        printf 'SURVIVED  %-24s in %s::%s (exit %s, expected \"%s\")\n' \
            "$mutation" "$file" "$model" "$status" "$expected"
        tail -n 20 "$log"
        survivors=$((survivors + 1))
    fi
done
if [ "$survivors" -ne 0 ]; then
    echo "$survivors planted bug(s) not caught"
    exit 1
fi
echo "every planted bug was caught"
