{#- The level for a score, in the order the rules apply: direct judgement D, a score below the C
    floor D, M (newly established or no revenue) with a score at least the M floor, A at the A
    floor without a not-A condition, then B and C. Thresholds come from the credit_levels seed,
    pivoted to a_min / b_min / m_min / c_min columns by the caller. -#}
{% macro credit_level(score, direct_d, is_m, not_a, t='lv') -%}
    case
        when {{ direct_d }} then 'D'
        when {{ score }} < {{ t }}.c_min then 'D'
        when {{ is_m }} and {{ score }} >= {{ t }}.m_min then 'M'
        when {{ score }} >= {{ t }}.a_min and not {{ not_a }} then 'A'
        when {{ score }} >= {{ t }}.b_min then 'B'
        else 'C'
    end
{%- endmacro %}
