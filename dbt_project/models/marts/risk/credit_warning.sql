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
-- correcting it restores (信用修复, int_credit__repair_options).
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
)

select * from final
