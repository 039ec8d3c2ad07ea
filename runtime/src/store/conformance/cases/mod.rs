//! The cases of the store conformance suite: what every backend must do,
//! written against the [`Store`](crate::store::Store) traits alone, one
//! file per role. Each backend's driver calls every case with a fresh,
//! empty store, through `every_case!`.

mod attempt_log;
mod cancel_on;
mod catalog;
mod event_starts;
mod finish;
mod flow;
mod helpers;
mod maintenance;
mod operations;
mod queue;
mod queues;
mod read_counts;
mod read_detail;
mod read_events;
mod read_lists;
mod runs;
mod steps;
mod unserved;
mod versions;
mod waits;

/// Calls `$cases!(..)` with the name of every case of this suite, so each
/// backend's test file runs them all and a new case cannot be left out.
macro_rules! every_case {
    ($cases:ident) => {
        $cases!(
            a_stale_lease_cannot_write,
            recovery_fences_the_previous_worker,
            idempotency_keys_name_one_run,
            claims_respect_ready_time_and_workflow,
            claims_take_only_served_versions_and_pin_the_rest,
            runs_no_live_worker_serves_are_counted_and_listed,
            completed_steps_are_never_overwritten,
            retry_keeps_completed_steps,
            one_refused_write_does_not_fail_its_batch,
            stale_step_writes_write_nothing_in_a_batch,
            events_settle_matching_waits,
            a_filter_matches_any_event_that_contains_it,
            lookback_sees_earlier_events,
            lookback_skips_events_the_run_took,
            signals_are_buffered_for_one_run,
            a_send_from_a_stale_run_writes_nothing,
            children_settle_their_parent_and_die_with_it,
            a_child_timing_out_with_its_parent_is_cancelled,
            each_timed_out_run_cancels_its_children_at_its_own_time,
            an_expired_lease_is_claimed_by_another_worker,
            retention_deletes_a_run_with_its_steps_and_logs,
            a_run_can_be_claimed_as_it_is_created,
            a_journal_keeps_the_order_the_run_reached_its_steps,
            a_suspension_saves_the_steps_it_carries,
            a_finish_saves_the_steps_it_carries,
            runs_are_listed_newest_first,
            run_filters_narrow_the_list,
            runs_are_found_by_text,
            runs_are_listed_by_parent,
            pages_walk_every_run_once,
            page_sizes_outside_1_to_200_are_refused,
            runs_are_counted_by_workflow_and_status,
            the_series_counts_each_minute,
            the_oldest_due_pending_run_is_found,
            run_detail_has_steps_and_children,
            each_ended_attempt_keeps_its_times,
            the_attempt_log_keeps_the_last_attempts,
            events_are_listed_with_the_runs_they_woke,
            catalog_keeps_each_version_of_a_workflow,
            catalog_keeps_each_versions_flow_control,
            catalog_keeps_each_schema_of_a_typed_event,
            workers_heartbeat_and_leave,
            a_heartbeat_removes_the_workers_long_silent,
            the_catalog_names_the_workflows_events_start,
            an_event_starts_its_runs_with_itself,
            an_event_cancels_the_runs_registered_for_its_value,
            every_path_of_an_event_name_is_looked_up,
            an_event_records_the_runs_it_cancelled,
            a_deadline_is_set_with_its_step_under_the_lease,
            claims_take_higher_priorities_first_in_trigger_order,
            a_limit_holds_per_group_and_a_full_group_is_not_due,
            a_run_claimed_as_it_is_created_counts_its_group,
            claims_take_only_runs_of_served_queues,
            runs_versions_and_workers_keep_their_queues,
            runs_of_a_queue_no_live_worker_serves_are_unserved,
            a_paused_run_is_not_claimed_until_resumed,
            pause_and_resume_are_idempotent,
            pause_of_an_ended_run_is_refused,
            a_paused_run_still_times_out,
            a_renewal_names_the_paused_runs,
            a_fork_copies_the_journal_before_its_step,
            paused_runs_are_listed_by_their_filter,
            debounced_triggers_join_the_run_not_started,
            an_idempotency_key_answers_before_a_debounce,
            throttled_runs_start_in_windows_of_their_key,
            a_joined_debounced_run_is_cancelled_by_its_new_inputs_value,
            a_throttled_run_is_cancelled_while_it_waits_its_window,
        );
    };
}
pub(super) use every_case;

pub(super) use attempt_log::*;
pub(super) use cancel_on::*;
pub(super) use catalog::*;
pub(super) use event_starts::*;
pub(super) use finish::*;
pub(super) use flow::*;
pub(super) use maintenance::*;
pub(super) use operations::*;
pub(super) use queue::*;
pub(super) use queues::*;
pub(super) use read_counts::*;
pub(super) use read_detail::*;
pub(super) use read_events::*;
pub(super) use read_lists::*;
pub(super) use runs::*;
pub(super) use steps::*;
pub(super) use unserved::*;
pub(super) use versions::*;
pub(super) use waits::*;
