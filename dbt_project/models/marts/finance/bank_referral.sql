{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
    )
}}
-- 融资补链: enterprises that authorised a bank and meet one of its products' criteria. Only fields
-- covered by the authorisation's scope are filled; each row names its authorisation.
with

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
),

authorisations as (
    select * from {{ ref('stg_bank__authorisations') }}
),

products as (
    select * from {{ ref('bank_products') }}
),

levels as (
    select * from {{ ref('int_ratings__latest_published') }}
),

filings as (
    select * from {{ ref('stg_tax__filings') }}
),

-- In force on as_of_date and still on the morning the bank receives the file.
current_authorisations as (
    select distinct on (uscc, bank_code) *
    from authorisations
    where
        authorised_date <= {{ as_of_date() }}
        and expires_date > {{ as_of_date() }} + {{ var('bank_delivery_lag_days') | int }}
        and (revoked_date is null or revoked_date > {{ as_of_date() }} + {{ var('bank_delivery_lag_days') | int }})
    order by uscc asc, bank_code asc, authorised_date desc, authorisation_id asc
),

tax_paid_12m as (
    select
        uscc,
        sum(coalesce(tax_paid, 0)) as tax_paid_12m
    from filings
    where filed_date > {{ as_of_date() }} - interval '12 months'
    group by uscc
),

candidates as (
    select
        p.bank_code,
        p.product_code,
        a.authorisation_id,
        a.authorised_scope,
        t.uscc,
        t.taxpayer_name,
        t.entity_type,
        t.branch_code,
        l.credit_level,
        l.evaluation_year,
        l.level_source,
        cast(
            extract(year from age({{ as_of_date() }}, coalesce(t.first_declaration_date, t.registered_date)))
            as integer
        ) as years_in_business,
        coalesce(tp.tax_paid_12m, 0) as tax_paid_12m,
        p.eligible_levels,
        p.min_years_in_business,
        p.min_tax_paid_12m
    from products as p
    inner join current_authorisations as a on p.bank_code = a.bank_code
    inner join taxpayers as t on a.uscc = t.uscc
    inner join levels as l on t.uscc = l.uscc
    left join tax_paid_12m as tp on t.uscc = tp.uscc
    where
        p.effective_from <= {{ as_of_date() }}
        and (p.effective_to is null or p.effective_to > {{ as_of_date() }})
        and t.taxpayer_status = 'normal'
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        bank_code,
        product_code,
        uscc,
        authorisation_id,
        authorised_scope,
        entity_type,
        branch_code,
        case when '|' || authorised_scope || '|' like '%|basic|%' then taxpayer_name end as taxpayer_name,
        case when '|' || authorised_scope || '|' like '%|credit_level|%' then credit_level end as credit_level,
        case when '|' || authorised_scope || '|' like '%|credit_level|%' then evaluation_year end as evaluation_year,
        case when '|' || authorised_scope || '|' like '%|basic|%' then years_in_business end as years_in_business,
        cast(
            case when '|' || authorised_scope || '|' like '%|tax_summary|%' then tax_paid_12m end as numeric(18, 2)
        ) as tax_paid_12m
    from candidates
    where
        '|' || eligible_levels || '|' like '%|' || credit_level || '|%'
        and years_in_business >= min_years_in_business
        and tax_paid_12m >= min_tax_paid_12m
)

select * from final
