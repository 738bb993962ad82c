{{
    config(
        materialized='table',
        post_hook='analyze {{ this }}',
        indexes=[{'columns': ['uscc', 'tax_type', 'period_start']}],
    )
}}
-- A table, not a view: every model and test that reads filings would otherwise re-sort all of
-- them to pick each return's first filing.
with

source as (
    select *
    from {{ source('raw', 'tax__filings') }}
    where
        _drop_date <= {{ as_of_date() }}
        and filed_date <= {{ as_of_date() }}
),

-- A return may arrive twice (resubmitted drop rows, corrections): the first filing counts
-- for timeliness.
deduped as (
    select
        *,
        row_number() over (
            partition by uscc, tax_type, period_start
            order by filed_date, _drop_date, _source_file, _row_number
        ) as _seq
    from source
),

renamed as (
    select
        uscc,
        tax_type,
        period_start,
        period_end,
        filed_date,
        sales_amount,
        tax_payable,
        tax_paid
    from deduped
    where _seq = 1
)

select * from renamed
