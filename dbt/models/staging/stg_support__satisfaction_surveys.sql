with

source as (

    select * from {{ source('raw', 'satisfaction_surveys') }}

),

renamed as (

    select
        -- ids
        nullif(trim(survey_id), '') as survey_id,
        nullif(trim(ticket_id), '') as ticket_id,

        -- answers
        score as satisfaction_score,
        nullif(trim(comment), '') as comment,

        -- timestamps (naive UTC)
        responded_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'survey_id') }}

)

select * from deduplicated
