{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date', 'uscc']}],
    )
}}
-- 降级预警 (税收分析助航): enterprises whose last published level is A or B and whose projected
-- level for the current evaluation year is lower — by how much, what would prevent it, and what
-- they would lose (留抵退税 needs A or B; 纳税信用贷 needs A, B or M).
with

outlook as (
    select * from {{ ref('credit_outlook') }}
    where as_of_date = {{ as_of_date() }}
),

levels as (
    select
        rule_version,
        credit_level,
        min_score,
        level_order
    from {{ ref('credit_levels') }}
),

falls as (
    select
        o.*,
        prev.level_order as previous_order,
        proj.level_order as projected_order,
        prev.min_score as previous_level_floor
    from outlook as o
    inner join levels as prev on o.rule_version = prev.rule_version and o.previous_level = prev.credit_level
    inner join levels as proj on o.rule_version = proj.rule_version and o.projected_level = proj.credit_level
    where o.previous_level in ('A', 'B') and proj.level_order > prev.level_order
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        f.uscc,
        f.taxpayer_name,
        f.entity_type,
        f.branch_code,
        f.officer_code,
        f.evaluation_year,
        f.rule_version,
        f.previous_evaluation_year,
        f.previous_level,
        f.projected_level,
        f.projected_score,
        cast(f.projected_order - f.previous_order as integer) as levels_down,
        case
            when f.is_direct_d then 'direct_d'
            when f.projected_level = 'M' then 'm_rule'
            when f.previous_level = 'A' and f.projected_score >= f.previous_level_floor and f.is_not_a then 'not_a'
            else 'score'
        end as fall_cause,
        cast(
            case
                when not f.is_direct_d and f.projected_score < f.previous_level_floor
                    then f.previous_level_floor - f.projected_score
            end as numeric(6, 2)
        ) as points_short,
        f.restorable_points,
        f.level_if_repaired,
        not f.is_direct_d and f.level_if_repaired = f.previous_level as preventable_by_repair,
        f.previous_level in ('A', 'B') and f.projected_level not in ('A', 'B') as loses_vat_refund,
        f.previous_level in ('A', 'B') and f.projected_level in ('C', 'D') as loses_credit_loan,
        concat_ws(
            '；',
            case when f.projected_level not in ('A', 'B') then '失去增值税期末留抵退税资格（需A级或B级）' end,
            case when f.projected_level in ('C', 'D') then '失去纳税信用贷（银税互动需A、B或M级）' end,
            case when f.previous_level = 'A' then '失去A级纳税人激励措施' end
        ) as loses_zh,
        case
            when f.is_direct_d then '直接判级，补分无法避免；核实非正常户状态并解除'
            when f.level_if_repaired = f.previous_level
                then
                    '补报逾期申报并申请信用修复，可挽回' || trim_scale(f.restorable_points) || '分，保持'
                    || f.previous_level || '级'
            when f.restorable_points > 0
                then
                    '补报并申请修复可挽回' || trim_scale(f.restorable_points) || '分，但不足以保持'
                    || f.previous_level || '级'
            else '本年已无可修复扣分；避免新的逾期'
        end as prevention_zh,
        f.drivers_zh,
        case
            when f.previous_level = 'B' and f.projected_level in ('C', 'D') then 1
            when f.projected_level in ('C', 'D') then 1
            when f.level_if_repaired = f.previous_level then 2
            else 3
        end as priority
    from falls as f
)

select * from final
