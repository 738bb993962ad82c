-- 信用修复: for every late or overdue return that costs points, what correcting it restores under
-- its rule version's ladder (repair_ladder seed). A late return was corrected on its filing date:
-- its tier is fixed and can be applied for. An overdue one can be corrected from the day after
-- as_of_date at the earliest: the best tier still open, the last date that restores it, and the
-- next step down of the ladder.
with

failures as (
    select * from {{ ref('int_credit__return_failures') }}
    where filing_status in ('late', 'overdue') and charged_points > 0
),

ladder as (
    select * from {{ ref('repair_ladder') }}
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

-- Each ladder tier's last correction date.
tiers as (
    select
        f.uscc,
        f.tax_type,
        f.period_start,
        case when f.filing_status = 'late' then f.filed_date else {{ as_of_date() }} + 1 end
            as earliest_correction,
        l.tier,
        case
            when f.tax_involved is not null and l.small_tax_max is not null and f.tax_involved <= l.small_tax_max
                then l.points_small_tax
            else l.points
        end as tier_points,
        case l.window_kind
            when 'days'
                then
                    f.deadline_date
                    + case when ck.clock_start = 'record_date' then ck.record_lag_days else 0 end
                    + l.window_days
            when 'same_year' then cast(date_trunc('year', f.deadline_date) + interval '1 year - 1 day' as date)
            when 'next_year' then cast(date_trunc('year', f.deadline_date) + interval '2 years - 1 day' as date)
        end as tier_until
    from failures as f
    inner join ladder as l on f.rule_version = l.rule_version and f.indicator_code = l.indicator_code
    left join clock as ck on f.rule_version = ck.rule_version
),

-- A tier is worth quoting only if no tier open at least as long restores as many points: with
-- those dominated tiers gone, the ones left restore strictly less the later they end. One sort per
-- return (a window), not a self anti-join, so the step stays linear in the number of returns.
open_tiers as (
    select
        t.*,
        max(t.tier_points) over (
            partition by t.uscc, t.tax_type, t.period_start
            order by coalesce(t.tier_until, date 'infinity') desc, t.tier_points desc, t.tier asc
            rows between unbounded preceding and 1 preceding
        ) as best_points_open_longer
    from tiers as t
    where t.tier_until is null or t.tier_until >= t.earliest_correction
),

reachable_tiers as (
    select
        *,
        row_number() over (
            partition by uscc, tax_type, period_start
            order by coalesce(tier_until, date 'infinity') asc
        ) as step
    from open_tiers
    where best_points_open_longer is null or best_points_open_longer < tier_points
),

ladder_note as (
    select
        uscc,
        tax_type,
        period_start,
        string_agg(
            coalesce(to_char(tier_until, 'YYYY-MM-DD') || '前', '此后') || '补报可修复' || tier_points || '分',
            '；' order by step
        ) as repair_ladder_note
    from reachable_tiers
    group by uscc, tax_type, period_start
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        f.uscc,
        f.tax_type,
        f.period_start,
        f.indicator_code,
        f.rule_version,
        f.evaluation_year,
        f.filing_status,
        f.charged_points,
        f.tax_involved,
        f.tax_is_estimate,
        -- Step 1 (the earliest-ending tier left) restores the most; two tiers restoring the same
        -- points leave only the later one, so its date is the last that restores them.
        cast(coalesce(best.tier_points, 0) as numeric(5, 2)) as restorable_points,
        case when f.filing_status = 'overdue' then best.tier_until end as restore_by_date,
        cast(nxt.tier_points as numeric(5, 2)) as next_step_points,
        case when f.filing_status = 'overdue' then nxt.tier_until end as next_step_until,
        case when f.filing_status = 'overdue' then ln.repair_ladder_note end as repair_ladder_note
    from failures as f
    left join reachable_tiers as best
        on f.uscc = best.uscc and f.tax_type = best.tax_type and f.period_start = best.period_start and best.step = 1
    left join reachable_tiers as nxt
        on
            f.uscc = nxt.uscc and f.tax_type = nxt.tax_type and f.period_start = nxt.period_start
            and nxt.step = 2 and f.filing_status = 'overdue'
    left join ladder_note as ln
        on f.uscc = ln.uscc and f.tax_type = ln.tax_type and f.period_start = ln.period_start
)

select * from final
