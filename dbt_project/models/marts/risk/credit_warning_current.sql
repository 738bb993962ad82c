{{ config(materialized='view') }}
-- What officers read: the latest published partition of credit_warning, contact data masked.
with

published as (
    select max(as_of_date) as as_of_date from {{ source('ops', 'publish_log') }}
),

final as (
    select
        w.as_of_date,
        w.warning_id,
        w.uscc,
        w.taxpayer_name,
        w.branch_code,
        w.officer_code,
        w.warning_type,
        w.indicator_code,
        w.subject,
        w.tax_type_name,
        w.period_start,
        w.period_end,
        w.deadline_date,
        w.days_to_deadline,
        w.days_late,
        w.rule_version,
        w.projected_deduction,
        w.restorable_points,
        w.restore_by_date,
        w.repair_ladder_note,
        w.priority,
        zxt.mask_name(w.contact_name) as contact_name_masked,
        zxt.mask_mobile(w.contact_mobile) as contact_mobile_masked
    from {{ ref('credit_warning') }} as w
    inner join published as p on w.as_of_date = p.as_of_date
)

select * from final
