-- Every return an enterprise owes (from its obligations and the deadline calendar) against what
-- it filed, as known on as_of_date. One row per enterprise × tax type × period.
with

obligations as (
    select * from {{ ref('stg_tax__obligations') }}
),

filings as (
    select * from {{ ref('stg_tax__filings') }}
),

-- One deadline per filing month: a local bureau may extend the national calendar, so the most
-- local row wins (county, then its prefecture, then its province, then national 000000).
deadlines as (
    select distinct on (filing_year, filing_month)
        filing_year,
        filing_month,
        deadline_date,
        region_code
    from {{ ref('filing_deadlines') }}
    where region_code in ({{ region_hierarchy_sql() }})
    order by
        filing_year,
        filing_month,
        {{ region_rank('region_code') }}
),

rule_versions as (
    select * from {{ ref('rule_versions') }}
),

periods as (
    select
        o.uscc,
        o.tax_type,
        o.period_type,
        cast(p.period_start as date) as period_start,
        cast(
            p.period_start
            + case when o.period_type = 'quarter' then interval '3 months' else interval '1 month' end
            - interval '1 day'
            as date
        ) as period_end
    from obligations as o
    cross join lateral generate_series(
        date_trunc(o.period_type, greatest(o.valid_from, {{ lookback_start() }} - interval '6 months')),
        date_trunc(o.period_type, least(coalesce(o.valid_to, {{ as_of_date() }}), {{ as_of_date() }})),
        case when o.period_type = 'quarter' then interval '3 months' else interval '1 month' end
    ) as p (period_start)
),

-- Returns for a period are due in the following month: on the calendar's date, else the 15th.
with_deadline as (
    select
        periods.*,
        coalesce(
            deadlines.deadline_date,
            cast(date_trunc('month', periods.period_end + 1) + interval '14 days' as date)
        ) as deadline_date,
        deadlines.deadline_date is not null as deadline_from_calendar,
        deadlines.region_code as deadline_region_code
    from periods
    left join deadlines
        on
            deadlines.filing_year = extract(year from periods.period_end + 1)
            and deadlines.filing_month = extract(month from periods.period_end + 1)
),

matched as (
    select
        w.*,
        f.filed_date,
        f.tax_payable,
        f.period_start is not null as is_filed
    from with_deadline as w
    left join filings as f
        on
            w.uscc = f.uscc
            and w.tax_type = f.tax_type
            and w.period_start = f.period_start
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        m.uscc,
        m.tax_type,
        m.period_type,
        m.period_start,
        m.period_end,
        m.deadline_date,
        m.deadline_from_calendar,
        m.deadline_region_code,
        m.filed_date,
        m.tax_payable,
        cast(extract(year from m.deadline_date) as integer) as evaluation_year,
        rv.rule_version,
        case
            when m.is_filed and m.filed_date <= m.deadline_date then 'on_time'
            when m.is_filed then 'late'
            -- The run closes the business day: unfiled on the deadline itself is already overdue.
            when m.deadline_date <= {{ as_of_date() }} then 'overdue'
            when m.deadline_date - {{ as_of_date() }} <= {{ warning_horizon_days() }} then 'due_soon'
            else 'not_yet_due'
        end as filing_status,
        case
            when m.is_filed then greatest(m.filed_date - m.deadline_date, 0)
            else greatest({{ as_of_date() }} - m.deadline_date, 0)
        end as days_late,
        m.deadline_date - {{ as_of_date() }} as days_to_deadline
    from matched as m
    inner join rule_versions as rv
        on extract(year from m.deadline_date) between rv.evaluation_year_from and rv.evaluation_year_to
    -- A period still open on as_of_date cannot be filed yet.
    where
        m.period_end < {{ as_of_date() }}
        and m.deadline_date >= {{ lookback_start() }}
)

select * from final
