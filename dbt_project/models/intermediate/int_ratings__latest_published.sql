-- The last credit level published on or before as_of_date; enterprises without one that are
-- newly established count as M (new entities get M at once).
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
        coalesce(l.credit_level, 'M') as credit_level,
        l.evaluation_year,
        l.score,
        l.published_date,
        case when l.uscc is null then 'new_entity' else 'published' end as level_source
    from taxpayers as t
    left join latest as l on t.uscc = l.uscc
)

select * from final
