-- Question: Do we meet our support SLAs, priority by priority?
-- Targets from the seed sla_targets; breaches of tickets still open count as of the analysis date.

select
    priority,
    max(first_response_target_minutes) as first_response_target_minutes,
    max(resolution_target_minutes) as resolution_target_minutes,
    count(*) as tickets,
    round(avg(case when is_first_response_sla_breached then 0.0 when not is_first_response_sla_breached then 1.0 end), 3)
        as first_response_sla_attainment,
    round(avg(case when is_resolution_sla_breached then 0.0 when not is_resolution_sla_breached then 1.0 end), 3)
        as resolution_sla_attainment,
    round(median(first_response_minutes), 1) as median_first_response_minutes,
    round(median(resolution_minutes), 1) as median_resolution_minutes,
    count(*) filter (where is_open) as open_tickets,
    round(avg(satisfaction_score), 2) as average_satisfaction_score

from marts.fct_tickets
group by priority
order by max(first_response_target_minutes) nulls last, priority
