with

interactions as (

    select * from {{ ref('int_interactions__unioned') }}

),

final as (

    select
        interaction_id,
        customer_id,
        interaction_channel,
        interaction_type,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        source_record_id,
        customer_link_method,
        revenue_usd,
        satisfaction_score

    from interactions
    -- touchpoints of contacts that cannot be linked to one customer stay in the intermediate model
    where customer_id is not null

)

select * from final
