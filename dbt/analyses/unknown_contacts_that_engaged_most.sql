-- Question: Which contacts that are not (yet) customers engage most with our emails?
-- Email contacts matching no customer (prospects, other addresses): candidates for sales follow-up.

select
    bridge.email_normalized,
    count(*) filter (where events.event_type = 'opened') as opens,
    count(*) filter (where events.event_type = 'clicked') as clicks,
    count(*) filter (where events.event_type = 'delivered') as deliveries,
    min(events.occurred_at) as first_event_at,
    max(events.occurred_at) as last_event_at

from marts.bridge_customer_identities as bridge
inner join marts.fct_email_events as events
    on bridge.identity_id = events.identity_id
where
    bridge.identity_type = 'email_contact'
    and bridge.is_unknown_contact
group by bridge.email_normalized
order by clicks desc, opens desc, bridge.email_normalized
limit 25
