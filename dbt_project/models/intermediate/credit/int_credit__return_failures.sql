-- Every return that is late, overdue or due soon (as known on as_of_date), with the indicator it
-- falls under (tax returns 010101, withholding returns 010102: tax_types seed) and the points it
-- costs under its rule version's counting unit. 2025 counts per enterprise × indicator × deadline
-- month: the first failure of a month costs the points (late filings already charged count
-- first), the others cost nothing. 2014-amended counts each return.
with

expected as (
    select * from {{ ref('int_filings__expected_vs_actual') }}
),

filings as (
    select * from {{ ref('stg_tax__filings') }}
),

indicators as (
    select * from {{ ref('indicator_catalog') }}
),

tax_types as (
    select * from {{ ref('tax_types') }}
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

ranked as (
    select
        e.as_of_date,
        e.uscc,
        e.tax_type,
        e.period_type,
        e.period_start,
        e.period_end,
        e.deadline_date,
        e.deadline_from_calendar,
        e.filed_date,
        e.filing_status,
        e.days_late,
        e.days_to_deadline,
        e.evaluation_year,
        e.rule_version,
        i.indicator_code,
        i.points,
        i.counting_unit,
        case when e.filed_date is not null then e.tax_payable else lt.tax_payable end as tax_involved,
        e.filed_date is null as tax_is_estimate,
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
    left join last_tax as lt on e.uscc = lt.uscc and e.tax_type = lt.tax_type
    where e.filing_status in ('late', 'overdue', 'due_soon')
),

final as (
    select
        *,
        -- due_soon: what missing the deadline would cost; late / overdue: the deduction incurred.
        cast(case when rank_in_counting_unit = 1 then points else 0 end as numeric(5, 2)) as charged_points
    from ranked
)

select * from final
