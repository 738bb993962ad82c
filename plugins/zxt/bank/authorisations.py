"""Re-check, when a file is delivered, that every row still has a current authorisation.

The mart was built from the authorisation snapshot of its business date; by the time the file goes
out a revocation may have arrived (a re-sent drop) or taken effect. Tax data may reach a bank only
with the taxpayer's current consent for that bank, so the check reads the newest loaded snapshot and
the bureau's today, and any row without a current authorisation (or whose scope shrank below the
fields sent) refuses the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

LAPSED_SQL = """
with latest as (
    select authorisation_id, uscc, bank_code, authorised_date, expires_date, revoked_date, scope
    from raw.bank__authorisations
    where _drop_date = (select max(_drop_date) from raw.bank__authorisations where _drop_date <= :today)
)
select r.uscc, r.authorisation_id,
       case
           when a.authorisation_id is null then 'not in the current authorisations'
           when a.uscc <> r.uscc or a.bank_code <> r.bank_code then 'belongs to another enterprise or bank'
           when a.revoked_date <= :today then 'revoked on ' || a.revoked_date
           when a.expires_date <= :today then 'expired on ' || a.expires_date
           when a.authorised_date > :today then 'not in force before ' || a.authorised_date
           else 'scope ' || a.scope || ' no longer covers ' || r.authorised_scope
       end as reason
from marts.bank_referral as r
left join lateral (
    select * from latest as x where x.authorisation_id = r.authorisation_id
    order by x.revoked_date is null, x.expires_date desc limit 1
) as a on true
where r.as_of_date = :d and r.bank_code = :b and r.product_code = :p
  and not (
      a.authorisation_id is not null
      and a.uscc = r.uscc and a.bank_code = r.bank_code
      and a.authorised_date <= :today and a.expires_date > :today
      and (a.revoked_date is null or a.revoked_date > :today)
      and string_to_array(r.authorised_scope, '|') <@ string_to_array(a.scope, '|')
  )
order by r.uscc
"""


@dataclass(frozen=True)
class Lapsed:
    uscc: str
    authorisation_id: str
    reason: str


def lapsed_rows(conn: sa.Connection, as_of: date, bank: str, product: str, today: date) -> list[Lapsed]:
    """Rows of the file for (bank, product, as_of) without a current authorisation on ``today``."""
    return [
        Lapsed(r.uscc, r.authorisation_id, r.reason)
        for r in conn.execute(sa.text(LAPSED_SQL), {"d": as_of, "b": bank, "p": product, "today": today})
    ]
