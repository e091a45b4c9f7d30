-- Whether a ticket was reopened, from the status history the exports show: every record of a
-- ticket in load order (stg_support__ticket_versions). A record is resolved when its status is
-- solved or closed (or, without a status, when it has a resolution time); a resolved record
-- followed by an unresolved one is a reopening. A reopening that happened between two exports
-- and was solved again before the next one leaves no trace in the exports and cannot be seen.

with

versions as (

    select * from {{ ref('stg_support__ticket_versions') }}

),

flagged as (

    select
        ticket_id,
        ticket_version,
        coalesce(status in ('solved', 'closed'), resolved_at is not null) as is_resolved_record

    from versions

),

transitions as (

    select
        ticket_id,
        ticket_version,
        is_resolved_record,
        lag(is_resolved_record) over (partition by ticket_id order by ticket_version) as was_resolved_before

    from flagged

),

tracked as (

    select
        ticket_id,
        count(*) as ticket_record_count,
        count(*) filter (where was_resolved_before and not is_resolved_record) as reopen_count

    from transitions
    group by ticket_id

),

final as (

    select
        ticket_id,
        ticket_record_count,
        reopen_count,
        reopen_count > 0 as is_reopened

    from tracked

)

select * from final
