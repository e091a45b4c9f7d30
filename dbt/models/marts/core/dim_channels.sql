-- One row per channel of a source system, from the analyst-maintained seed `channels`.

with

channels as (

    select * from {{ ref('channels') }}

),

final as (

    select
        channel_id,
        source_system,
        channel,
        channel_name,
        channel_group,
        is_digital,
        is_assisted,
        description as channel_description

    from channels

)

select * from final
