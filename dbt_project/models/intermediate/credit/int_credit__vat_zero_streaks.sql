-- 零申报 — per enterprise and evaluation year (the current and the previous one), the VAT months
-- filed, the months with sales, and the zero months as each rule version counts them: 2014-amended
-- counts every zero or negative return; 2025 only those without a normal reason. A return with
-- sales but no tax payable is taken as normal (exemption or retained input credit: the return
-- says why); one without sales has no normal reason on record. A zero quarter counts as 3 months.
with

vat as (
    select * from {{ ref('stg_tax__filings') }}
    where
        tax_type = 'VAT'
        and period_start >= cast(date_trunc('year', {{ as_of_date() }}) - interval '1 year' as date)
),

months as (
    select
        v.uscc,
        cast(extract(year from m.month_start) as integer) as evaluation_year,
        cast(m.month_start as date) as month_start,
        coalesce(v.tax_payable, 0) <= 0 as zero_2014,
        coalesce(v.tax_payable, 0) <= 0 and coalesce(v.sales_amount, 0) <= 0 as zero_2025,
        coalesce(v.sales_amount, 0) > 0 as has_sales
    from vat as v
    cross join lateral generate_series(
        cast(v.period_start as timestamp), cast(v.period_end as timestamp), interval '1 month'
    ) as m (month_start)
),

-- Consecutive zero months form islands: month number minus the rank among zero months is constant.
numbered as (
    select
        *,
        extract(year from month_start) * 12 + extract(month from month_start) as month_no,
        row_number() over (partition by uscc, evaluation_year, zero_2014 order by month_start) as rank_2014,
        row_number() over (partition by uscc, evaluation_year, zero_2025 order by month_start) as rank_2025
    from months
),

streaks_2014 as (
    select
        uscc,
        evaluation_year,
        max(streak) as longest_zero_streak_2014
    from (
        select
            uscc,
            evaluation_year,
            count(*) as streak
        from numbered
        where zero_2014
        group by uscc, evaluation_year, month_no - rank_2014
    ) as s
    group by uscc, evaluation_year
),

streaks_2025 as (
    select
        uscc,
        evaluation_year,
        max(streak) as longest_zero_streak_2025
    from (
        select
            uscc,
            evaluation_year,
            count(*) as streak
        from numbered
        where zero_2025
        group by uscc, evaluation_year, month_no - rank_2025
    ) as s
    group by uscc, evaluation_year
),

final as (
    select
        n.uscc,
        n.evaluation_year,
        cast(count(*) as integer) as vat_months_filed,
        cast(count(*) filter (where n.has_sales) as integer) as months_with_sales,
        cast(count(*) filter (where n.zero_2014) as integer) as zero_months_2014,
        cast(count(*) filter (where n.zero_2025) as integer) as zero_months_2025,
        cast(coalesce(max(s14.longest_zero_streak_2014), 0) as integer) as longest_zero_streak_2014,
        cast(coalesce(max(s25.longest_zero_streak_2025), 0) as integer) as longest_zero_streak_2025
    from numbered as n
    left join streaks_2014 as s14 on n.uscc = s14.uscc and n.evaluation_year = s14.evaluation_year
    left join streaks_2025 as s25 on n.uscc = s25.uscc and n.evaluation_year = s25.evaluation_year
    group by n.uscc, n.evaluation_year
)

select * from final
