{{ config(severity='warn') }}

-- The analyst-maintained rules of the seed rfm_segments name every combination of recency,
-- frequency and monetary scores (1 to 5 each). Returns the combinations no rule covers (their
-- customers would be 'unclassified'). A warning: editing the seed must not stop the pipeline.

with

scores as (

    select score
    from (values (1), (2), (3), (4), (5)) as quintiles (score)

),

combinations as (

    select
        recency.score as recency_score,
        frequency.score as frequency_score,
        monetary.score as monetary_score

    from scores as recency
    cross join scores as frequency
    cross join scores as monetary

)

select combinations.*
from combinations
where not exists (
    select 1
    from {{ ref('rfm_segments') }} as segments
    where
        combinations.recency_score between segments.recency_score_min and segments.recency_score_max
        and combinations.frequency_score between segments.frequency_score_min and segments.frequency_score_max
        and combinations.monetary_score between segments.monetary_score_min and segments.monetary_score_max
)
