{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date', 'uscc']}],
    )
}}
-- 信用修复机会: every failure of the current or previous evaluation year that still costs points
-- and can be repaired — points restorable now, by which date, and the next step down of the
-- ladder. An overdue return must be filed first; a late one was corrected and can be applied for.
with

repairs as (
    select * from {{ ref('int_credit__repair_options') }}
    where restorable_points > 0
),

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
    where taxpayer_status <> 'deregistered'
),

tax_types as (
    select * from {{ ref('tax_types') }}
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        r.uscc,
        t.taxpayer_name,
        t.entity_type,
        t.branch_code,
        t.officer_code,
        r.indicator_code,
        r.tax_type || ':' || to_char(r.period_start, 'YYYY-MM') as subject,
        r.tax_type,
        coalesce(n.tax_type_name_zh, r.tax_type) as tax_type_name,
        r.period_start,
        r.rule_version,
        r.evaluation_year,
        r.filing_status,
        r.charged_points,
        r.restorable_points,
        r.restore_by_date,
        r.next_step_points,
        r.next_step_until,
        r.repair_ladder_note,
        cast(r.tax_involved as numeric(18, 2)) as tax_involved,
        case
            when r.filing_status = 'overdue'
                then
                    '先补办' || coalesce(n.tax_type_name_zh, r.tax_type) || '申报'
                    || coalesce('，' || to_char(r.restore_by_date, 'YYYY-MM-DD') || '前补报可修复' || trim_scale(r.restorable_points) || '分', '')
                    || '，再通过电子税务局提交纳税信用修复申请'
            else '已补报：可通过电子税务局提交纳税信用修复申请，修复' || trim_scale(r.restorable_points) || '分'
        end as how_to_apply_zh
    from repairs as r
    inner join taxpayers as t on r.uscc = t.uscc
    left join tax_types as n on r.tax_type = n.tax_type
)

select * from final
