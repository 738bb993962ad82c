{{
    config(
        materialized='incremental',
        incremental_strategy='replace_partition',
        unique_key='as_of_date',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['as_of_date', 'uscc']}],
    )
}}
-- 信用预判: per enterprise, the projected score and level of the current evaluation year (the
-- year of as_of_date) under its rule version, from what is known on as_of_date: start score,
-- deductions for late and overdue returns, D carry-over, direct-D and not-A conditions, the M rule.
with

taxpayers as (
    select * from {{ ref('stg_tax__taxpayers') }}
    -- Deregistered enterprises are out of credit management.
    where taxpayer_status <> 'deregistered'
),

ratings as (
    select * from {{ ref('stg_credit__ratings') }}
),

failures as (
    select * from {{ ref('int_credit__return_failures') }}
),

repairs as (
    select * from {{ ref('int_credit__repair_options') }}
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

levels as (
    select
        rule_version,
        max(case when credit_level = 'A' then min_score end) as a_min,
        max(case when credit_level = 'B' then min_score end) as b_min,
        max(case when credit_level = 'M' then min_score end) as m_min,
        max(case when credit_level = 'C' then min_score end) as c_min
    from {{ ref('credit_levels') }}
    group by rule_version
),

start_scores as (
    select * from {{ ref('start_score_rules') }}
),

params as (
    select
        rule_version,
        max(case when parameter = 'd_carry_over_points' then cast(value as numeric) end) as d_carry_over_points
    from {{ ref('rule_parameters') }}
    group by rule_version
),

not_a_rules as (
    select
        rule_version,
        max(case when condition_code = 'business_age' then threshold end) as min_business_years,
        max(case when condition_code = 'zero_vat_consecutive' then threshold end) as zero_streak_months,
        max(case when condition_code = 'zero_vat_in_year' then threshold end) as zero_year_months
    from {{ ref('not_a_conditions') }}
    group by rule_version
),

deductions as (
    select
        f.uscc,
        sum(f.charged_points) as deducted_points,
        count(*) filter (where f.charged_points > 0) as deduction_count,
        count(*) filter (where f.filing_status = 'overdue') as unfiled_returns
    from failures as f
    inner join year_version as yv on f.evaluation_year = yv.evaluation_year
    where f.filing_status in ('late', 'overdue')
    group by f.uscc
),

restorable as (
    select
        r.uscc,
        sum(r.restorable_points) as restorable_points
    from repairs as r
    inner join year_version as yv on r.evaluation_year = yv.evaluation_year
    group by r.uscc
),

base as (
    select
        t.uscc,
        t.taxpayer_name,
        t.entity_type,
        t.branch_code,
        t.officer_code,
        t.taxpayer_status,
        yv.evaluation_year,
        yv.rule_version,
        prev.credit_level as previous_level,
        prev.score as previous_score,
        prev.evaluation_year as previous_evaluation_year,
        -- A D below the C floor was earned by score; a D with a higher score came by direct judgement.
        prev.credit_level = 'D' and prev.score < lv.c_min as previous_d_by_score,
        prev.credit_level = 'D' and prev.score >= lv.c_min as previous_direct_d,
        prev2.credit_level = 'D' and prev2.score >= lv.c_min as direct_d_two_years_ago,
        -- Non-regular information (inspections, audits, assessments) has no source yet: 2025 starts
        -- at 93 when every return of the year is filed, else 90; 2014-amended at 90.
        case
            when yv.rule_version = '2025' and coalesce(d.unfiled_returns, 0) = 0 then 'declarations_only'
            when yv.rule_version = '2025' then 'incomplete'
            else 'no_non_regular_3y'
        end as start_score_basis,
        coalesce(d.deducted_points, 0) as deducted_points,
        coalesce(d.deduction_count, 0) as deduction_count,
        coalesce(d.unfiled_returns, 0) as unfiled_returns,
        coalesce(rs.restorable_points, 0) as restorable_points,
        coalesce(
            t.first_declaration_date, t.tax_info_confirmed_date, t.registered_date
        ) as business_start_date,
        coalesce(t.tax_info_confirmed_date, t.registered_date)
        > make_date(yv.evaluation_year, 1, 1) as is_new_entity,
        coalesce(z.vat_months_filed, 0) > 0 and coalesce(z.months_with_sales, 0) = 0 as no_revenue,
        case when yv.rule_version = '2025' then z.longest_zero_streak_2025 else z.longest_zero_streak_2014 end
            as zero_vat_streak,
        case when yv.rule_version = '2025' then z.zero_months_2025 else z.zero_months_2014 end
            as zero_vat_months,
        lv.a_min,
        lv.b_min,
        lv.m_min,
        lv.c_min,
        na.min_business_years,
        na.zero_streak_months,
        na.zero_year_months,
        coalesce(p.d_carry_over_points, 0) as d_carry_over_rule_points
    from taxpayers as t
    cross join year_version as yv
    inner join levels as lv on yv.rule_version = lv.rule_version
    left join not_a_rules as na on yv.rule_version = na.rule_version
    left join params as p on yv.rule_version = p.rule_version
    left join ratings as prev on t.uscc = prev.uscc and prev.evaluation_year = yv.evaluation_year - 1
    left join ratings as prev2 on t.uscc = prev2.uscc and prev2.evaluation_year = yv.evaluation_year - 2
    left join deductions as d on t.uscc = d.uscc
    left join restorable as rs on t.uscc = rs.uscc
    left join zero_vat as z on t.uscc = z.uscc and yv.evaluation_year = z.evaluation_year
),

flagged as (
    select
        b.*,
        ss.start_score,
        case when coalesce(b.previous_d_by_score, false) then b.d_carry_over_rule_points else 0 end
            as d_carry_over_points,
        case
            when b.taxpayer_status = 'abnormal' then 'abnormal_household'
            when coalesce(b.previous_direct_d, false) then 'direct_d_second_year'
        end as direct_d_reason,
        array_remove(array[
            case
                when
                    b.business_start_date + make_interval(years => b.min_business_years)
                    > make_date(b.evaluation_year, 12, 31)
                    then 'business_age'
            end,
            case when b.previous_level = 'D' then 'previous_year_d' end,
            case
                when b.zero_vat_streak >= b.zero_streak_months or b.zero_vat_months >= b.zero_year_months
                    then 'zero_vat'
            end,
            case when coalesce(b.direct_d_two_years_ago, false) then 'direct_d_third_year' end
        ], null) as not_a_codes
    from base as b
    inner join start_scores as ss on b.rule_version = ss.rule_version and b.start_score_basis = ss.basis
),

scored as (
    select
        f.*,
        greatest(f.start_score - f.deducted_points - f.d_carry_over_points, 0) as projected_score,
        least(
            greatest(f.start_score - f.deducted_points - f.d_carry_over_points, 0) + f.restorable_points,
            f.start_score
        ) as score_if_repaired,
        f.direct_d_reason is not null as is_direct_d,
        cardinality(f.not_a_codes) > 0 as is_not_a,
        f.is_new_entity or f.no_revenue as is_m_candidate
    from flagged as f
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        s.uscc,
        s.taxpayer_name,
        s.entity_type,
        s.branch_code,
        s.officer_code,
        s.evaluation_year,
        s.rule_version,
        s.previous_evaluation_year,
        s.previous_level,
        cast(s.previous_score as numeric(5, 1)) as previous_score,
        s.start_score_basis,
        cast(s.start_score as numeric(5, 2)) as start_score,
        cast(s.deducted_points as numeric(6, 2)) as deducted_points,
        cast(s.deduction_count as integer) as deduction_count,
        cast(s.unfiled_returns as integer) as unfiled_returns,
        cast(s.d_carry_over_points as numeric(5, 2)) as d_carry_over_points,
        cast(s.projected_score as numeric(6, 2)) as projected_score,
        {{ credit_level('s.projected_score', 's.is_direct_d', 's.is_m_candidate', 's.is_not_a', 's') }}
            as projected_level,
        cast(s.restorable_points as numeric(6, 2)) as restorable_points,
        cast(s.score_if_repaired as numeric(6, 2)) as score_if_repaired,
        {{ credit_level('s.score_if_repaired', 's.is_direct_d', 's.is_m_candidate', 's.is_not_a', 's') }}
            as level_if_repaired,
        s.is_direct_d,
        s.direct_d_reason,
        s.is_not_a,
        array_to_string(s.not_a_codes, '|') as not_a_reasons,
        case when s.is_new_entity then 'new_entity' when s.no_revenue then 'no_revenue' end as m_reason,
        cast(s.zero_vat_streak as integer) as zero_vat_streak,
        cast(s.zero_vat_months as integer) as zero_vat_months,
        s.business_start_date,
        nullif(concat_ws(
            '；',
            case when s.is_direct_d and s.direct_d_reason = 'abnormal_household' then '被认定为非正常户，直接判为D级' end,
            case when s.is_direct_d and s.direct_d_reason = 'direct_d_second_year' then '上年直接判为D级，本年仍为D级' end,
            case
                when s.deducted_points > 0
                    then '逾期申报' || s.deduction_count || '项扣' || trim_scale(s.deducted_points) || '分'
            end,
            case when s.unfiled_returns > 0 then '尚有' || s.unfiled_returns || '项申报未补报' end,
            case when s.d_carry_over_points > 0 then '上年D级（按分）本年加扣' || trim_scale(s.d_carry_over_points) || '分' end,
            case when 'business_age' = any(s.not_a_codes) then '自首次申报起经营不满3年，不得评为A级' end,
            case when 'previous_year_d' = any(s.not_a_codes) then '上年评价为D级，不得评为A级' end,
            case when 'zero_vat' = any(s.not_a_codes) then '增值税连续或累计零申报，不得评为A级' end,
            case when 'direct_d_third_year' = any(s.not_a_codes) then '直接判D后第三年，不得评为A级' end,
            case when s.is_new_entity then '新设立企业，评为M级' end,
            case when s.no_revenue and not s.is_new_entity then '本年无经营收入，评为M级' end,
            case when s.restorable_points > 0 then '及时补正并申请修复可挽回' || trim_scale(s.restorable_points) || '分' end
        ), '') as drivers_zh
    from scored as s
)

select * from final
