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
-- with the projected 010101 deduction and what correcting it restores (信用修复).
with

expected as (
    select * from {{ ref('int_filings__expected_vs_actual') }}
),

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
),

contacts as (
    select * from {{ ref('int_contacts__reachable') }}
),

filings as (
    select * from {{ ref('stg_tax__filings') }}
),

indicators as (
    select * from {{ ref('indicator_catalog') }}
),

ladder as (
    select * from {{ ref('repair_ladder') }}
),

tax_types as (
    select * from {{ ref('tax_types') }}
),

-- Late and unfiled returns compete for the same deduction when the rule counts per month (2025):
-- the first failure of an indicator in a deadline month costs the points, later ones cost nothing.
-- Tax returns fall under 010101, withholding returns under 010102 (tax_types seed).
failures as (
    select
        e.*,
        i.indicator_code,
        i.points,
        i.counting_unit,
        row_number() over (
            partition by
                e.uscc,
                e.rule_version,
                i.indicator_code,
                case
                    when i.counting_unit = 'month' then cast(date_trunc('month', e.deadline_date) as text)
                    else e.tax_type || cast(e.period_start as text)
                end
            order by
                case e.filing_status when 'late' then 1 when 'overdue' then 2 else 3 end,
                e.deadline_date,
                e.tax_type,
                e.period_start
        ) as rank_in_counting_unit
    from expected as e
    inner join tax_types as tt on e.tax_type = tt.tax_type
    inner join indicators as i
        on e.rule_version = i.rule_version and tt.return_indicator_code = i.indicator_code
    where e.filing_status in ('late', 'overdue', 'due_soon')
),

warnings as (
    select
        f.*,
        case when f.rank_in_counting_unit = 1 then f.points else 0 end as projected_deduction
    from failures as f
    where f.filing_status in ('overdue', 'due_soon')
),

-- The tax involved in an unfiled return is unknown: estimate it by the last filed amount.
last_tax as (
    select distinct on (uscc, tax_type)
        uscc,
        tax_type,
        tax_payable
    from filings
    order by uscc asc, tax_type asc, period_start desc
),

-- When the repair clock starts is a rule parameter (rule_parameters.csv): at the failure (the
-- deadline passing) or when the failure enters the credit record, estimated as the deadline plus
-- record_lag_days until a recorded deduction says otherwise.
clock as (
    select
        rule_version,
        max(case when parameter = 'repair_clock_start' then value end) as clock_start,
        coalesce(max(case when parameter = 'record_lag_days' then cast(value as integer) end), 0)
            as record_lag_days
    from {{ ref('rule_parameters') }}
    group by rule_version
),

-- Each ladder tier's last correction date for each overdue return.
tiers as (
    select
        w.uscc,
        w.tax_type,
        w.period_start,
        l.tier,
        case
            when lt.tax_payable is not null and l.small_tax_max is not null and lt.tax_payable <= l.small_tax_max
                then l.points_small_tax
            else l.points
        end as tier_points,
        case l.window_kind
            when 'days'
                then
                    w.deadline_date
                    + case when ck.clock_start = 'record_date' then ck.record_lag_days else 0 end
                    + l.window_days
            when 'same_year' then cast(date_trunc('year', w.deadline_date) + interval '1 year - 1 day' as date)
            when 'next_year' then cast(date_trunc('year', w.deadline_date) + interval '2 years - 1 day' as date)
        end as tier_until
    from warnings as w
    inner join ladder as l on w.rule_version = l.rule_version and w.indicator_code = l.indicator_code
    left join clock as ck on w.rule_version = ck.rule_version
    left join last_tax as lt on w.uscc = lt.uscc and w.tax_type = lt.tax_type
    where w.filing_status = 'overdue'
),

-- Correcting is possible from the day after as_of_date at the earliest. A tier is worth quoting
-- only if no tier open at least as long restores as many points: with those dominated tiers gone,
-- the ones left restore strictly less the later they end. One sort per return (a window), not a
-- self anti-join, so the step stays linear in the number of returns.
open_tiers as (
    select
        t.*,
        max(t.tier_points) over (
            partition by t.uscc, t.tax_type, t.period_start
            order by coalesce(t.tier_until, date 'infinity') desc, t.tier_points desc, t.tier asc
            rows between unbounded preceding and 1 preceding
        ) as best_points_open_longer
    from tiers as t
    where t.tier_until is null or t.tier_until >= {{ as_of_date() }} + 1
),

reachable_tiers as (
    select *
    from open_tiers
    where best_points_open_longer is null or best_points_open_longer < tier_points
),

-- The most points still restorable, and the last date that restores them (two tiers restoring the
-- same points: the later date is quoted, the earlier one is dominated above).
best_tier as (
    select distinct on (uscc, tax_type, period_start)
        uscc,
        tax_type,
        period_start,
        tier_points,
        tier_until
    from reachable_tiers
    order by uscc asc, tax_type asc, period_start asc, tier_points desc, coalesce(tier_until, date 'infinity') desc
),

ladder_note as (
    select
        uscc,
        tax_type,
        period_start,
        string_agg(
            coalesce(to_char(tier_until, 'YYYY-MM-DD') || '前', '此后') || '补报可修复' || tier_points || '分',
            '；' order by coalesce(tier_until, date 'infinity')
        ) as repair_ladder_note
    from reachable_tiers
    group by uscc, tax_type, period_start
),

final as (
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
        cast(w.projected_deduction as numeric(5, 2)) as projected_deduction,
        w.rank_in_counting_unit > 1 as counted_with_other_return,
        cast(
            case when w.projected_deduction > 0 then coalesce(b.tier_points, 0) else 0 end as numeric(5, 2)
        ) as restorable_points,
        case when w.projected_deduction > 0 then b.tier_until end as restore_by_date,
        case when w.projected_deduction > 0 then ln.repair_ladder_note end as repair_ladder_note,
        cast(lt.tax_payable as numeric(18, 2)) as estimated_tax,
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
    from warnings as w
    inner join taxpayers as t on w.uscc = t.uscc
    left join contacts as c on w.uscc = c.uscc
    left join best_tier as b on w.uscc = b.uscc and w.tax_type = b.tax_type and w.period_start = b.period_start
    left join ladder_note as ln
        on w.uscc = ln.uscc and w.tax_type = ln.tax_type and w.period_start = ln.period_start
    left join last_tax as lt on w.uscc = lt.uscc and w.tax_type = lt.tax_type
    left join tax_types as n on w.tax_type = n.tax_type
    -- Deregistered enterprises are out of credit management.
    where t.taxpayer_status <> 'deregistered'
)

select * from final
