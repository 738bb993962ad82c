-- The last credit level published on or before as_of_date. Without one, an enterprise established
-- since 1 January of the previous year has not been evaluated yet and counts as M (new entities
-- get M at once); an older one without a rating has no known level (null), never a guessed one.
with

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
),

ratings as (
    select * from {{ ref('stg_credit__ratings') }}
),

latest as (
    select distinct on (uscc)
        uscc,
        evaluation_year,
        score,
        credit_level,
        published_date
    from ratings
    order by uscc asc, evaluation_year desc
),

final as (
    select
        t.uscc,
        case
            when l.uscc is not null then l.credit_level
            when t.registered_date >= cast(date_trunc('year', {{ as_of_date() }}) - interval '1 year' as date)
                then 'M'
        end as credit_level,
        l.evaluation_year,
        l.score,
        l.published_date,
        case
            when l.uscc is not null then 'published'
            when t.registered_date >= cast(date_trunc('year', {{ as_of_date() }}) - interval '1 year' as date)
                then 'new_entity'
            else 'unknown'
        end as level_source
    from taxpayers as t
    left join latest as l on t.uscc = l.uscc
)

select * from final
