-- One row per source identity (a sales customer record, a marketing email contact, a lead, a
-- ticket requester) with the unified customer it resolves to and how. See
-- int_identities__resolved for the rules; this is its published, tested form.

with

identities as (

    select * from {{ ref('int_identities__resolved') }}

),

final as (

    select
        identity_id,
        source_system,
        identity_type,
        identity_key,
        source_customer_id,
        email_normalized,
        phone_normalized,
        customer_id,
        match_rule,
        is_ambiguous,
        is_unknown_contact,
        candidate_customer_count,
        source_record_count,
        first_seen_at,
        last_seen_at

    from identities

)

select * from final
