{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date', 'uscc']}],
    )
}}
-- 风险提醒: returns due within the horizon and not filed, and returns overdue and not filed,
-- with the projected deduction (010101 / 010102, counted in int_credit__return_failures) and what
-- correcting it restores (信用修复, int_credit__repair_options); zero-VAT months approaching the
-- not-A threshold; returns missing for several months (risk of 非正常户, a direct D). Only the
-- filing warnings are reminders (reminder_candidates); the others are for officers.
with

failures as (
    select * from {{ ref('int_credit__return_failures') }}
    where filing_status in ('overdue', 'due_soon')
),

repairs as (
    select * from {{ ref('int_credit__repair_options') }}
),

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
),

contacts as (
    select * from {{ ref('int_contacts__reachable') }}
),

tax_types as (
    select * from {{ ref('tax_types') }}
),

zero_vat as (
    select * from {{ ref('int_credit__vat_zero_streaks') }}
),

year_version as (
    select
        cast(extract(year from {{ as_of_date() }}) as integer) as evaluation_year,
        rv.rule_version
    from {{ ref('rule_versions') }} as rv
    where extract(year from {{ as_of_date() }}) between rv.evaluation_year_from and rv.evaluation_year_to
),

not_a_rules as (
    select
        rule_version,
        max(case when condition_code = 'zero_vat_consecutive' then threshold end) as zero_streak_months,
        max(case when condition_code = 'zero_vat_in_year' then threshold end) as zero_year_months
    from {{ ref('not_a_conditions') }}
    group by rule_version
),

-- One more zero month would bar A: the longest run is one short of the threshold, or the year's
-- count two or one short (zero months counted as the year's rule version counts them).
zero_vat_warnings as (
    select
        z.uscc,
        yv.evaluation_year,
        yv.rule_version,
        case when yv.rule_version = '2025' then z.longest_zero_streak_2025 else z.longest_zero_streak_2014 end
            as streak,
        case when yv.rule_version = '2025' then z.zero_months_2025 else z.zero_months_2014 end as zero_months,
        na.zero_streak_months,
        na.zero_year_months
    from zero_vat as z
    inner join year_version as yv on z.evaluation_year = yv.evaluation_year
    inner join not_a_rules as na on yv.rule_version = na.rule_version
),

-- Returns missing in three or more deadline months: the road to being recognised as 非正常户.
missing_returns as (
    select
        uscc,
        min(rule_version) as rule_version,
        max(evaluation_year) as evaluation_year,
        count(distinct date_trunc('month', deadline_date)) as months_missing
    from {{ ref('int_credit__return_failures') }}
    where filing_status = 'overdue'
    group by uscc
    having count(distinct date_trunc('month', deadline_date)) >= 3
),

other_warnings as (
    select
        uscc,
        'zero_vat_streak' as warning_type,
        'VAT:' || evaluation_year as subject,
        'VAT' as tax_type,
        rule_version,
        evaluation_year
    from zero_vat_warnings
    where
        streak < zero_streak_months and zero_months < zero_year_months
        and (streak = zero_streak_months - 1 or zero_months >= zero_year_months - 2)
    union all
    select
        uscc,
        'abnormal_household_risk' as warning_type,
        'RETURNS:' || months_missing || 'M' as subject,
        null as tax_type,
        rule_version,
        evaluation_year
    from missing_returns
),

filing_warnings as (
    select
        {{ as_of_date() }} as as_of_date,
        md5(
            w.uscc || '|' || 'filing_' || w.filing_status || '|' || w.tax_type || ':' || cast(w.period_start as text)
        ) as warning_id,
        w.uscc,
        t.taxpayer_name,
        t.entity_type,
        t.branch_code,
        t.officer_code,
        'filing_' || w.filing_status as warning_type,
        w.indicator_code,
        w.tax_type || ':' || to_char(w.period_start, 'YYYY-MM') as subject,
        w.tax_type,
        coalesce(n.tax_type_name_zh, w.tax_type) as tax_type_name,
        w.period_type,
        w.period_start,
        w.period_end,
        w.deadline_date,
        w.deadline_from_calendar,
        w.days_to_deadline,
        w.days_late,
        w.rule_version,
        w.evaluation_year,
        cast(w.charged_points as numeric(5, 2)) as projected_deduction,
        w.rank_in_counting_unit > 1 as counted_with_other_return,
        cast(coalesce(r.restorable_points, 0) as numeric(5, 2)) as restorable_points,
        r.restore_by_date,
        r.repair_ladder_note,
        cast(w.tax_involved as numeric(18, 2)) as estimated_tax,
        t.is_exporter,
        t.is_key_source,
        c.contact_name,
        c.contact_mobile,
        coalesce(c.sms_reachable, false) as sms_reachable,
        case
            when w.filing_status = 'overdue' and (t.is_key_source or t.is_exporter) then 1
            when w.filing_status = 'overdue' then 2
            when t.is_key_source or t.is_exporter then 3
            else 4
        end as priority
    from failures as w
    inner join taxpayers as t on w.uscc = t.uscc
    left join contacts as c on w.uscc = c.uscc
    left join repairs as r on w.uscc = r.uscc and w.tax_type = r.tax_type and w.period_start = r.period_start
    left join tax_types as n on w.tax_type = n.tax_type
    -- Deregistered enterprises are out of credit management.
    where t.taxpayer_status <> 'deregistered'
),

risk_warnings as (
    select
        {{ as_of_date() }} as as_of_date,
        md5(o.uscc || '|' || o.warning_type || '|' || o.subject) as warning_id,
        o.uscc,
        t.taxpayer_name,
        t.entity_type,
        t.branch_code,
        t.officer_code,
        o.warning_type,
        cast(null as text) as indicator_code,
        o.subject,
        o.tax_type,
        coalesce(n.tax_type_name_zh, o.tax_type) as tax_type_name,
        cast(null as text) as period_type,
        cast(null as date) as period_start,
        cast(null as date) as period_end,
        cast(null as date) as deadline_date,
        cast(null as boolean) as deadline_from_calendar,
        cast(null as integer) as days_to_deadline,
        cast(null as integer) as days_late,
        o.rule_version,
        o.evaluation_year,
        cast(0 as numeric(5, 2)) as projected_deduction,
        false as counted_with_other_return,
        cast(0 as numeric(5, 2)) as restorable_points,
        cast(null as date) as restore_by_date,
        cast(null as text) as repair_ladder_note,
        cast(null as numeric(18, 2)) as estimated_tax,
        t.is_exporter,
        t.is_key_source,
        c.contact_name,
        c.contact_mobile,
        coalesce(c.sms_reachable, false) as sms_reachable,
        case when o.warning_type = 'abnormal_household_risk' then 1 else 3 end as priority
    from other_warnings as o
    inner join taxpayers as t on o.uscc = t.uscc
    left join contacts as c on o.uscc = c.uscc
    left join tax_types as n on o.tax_type = n.tax_type
    where t.taxpayer_status not in ('deregistered', 'abnormal')
),

final as (
    select * from filing_warnings
    union all
    select * from risk_warnings
)

select * from final
