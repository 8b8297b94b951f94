"""The ledger's rules, each written once as an SQL expression that every query (and, through
its result, every piece of Python) uses:

- the signed amount of an entry: +amount for a CREDIT, -amount for a DEBIT (how a balance
  moves; the audit sums it, a posting adds it, a replay reads it back);
- the available balance: the balance minus what the student's active holds reserve ("held",
  models.holds: the one definition of an active hold). Spends and new holds need it to cover
  them; it may be below zero only after a clawback.
"""

from __future__ import annotations

from medgrader.models.holds import held_sql
from medgrader.models.ledger import EntryType


def signed_amount(entry_type: str = "entry_type", amount: str = "amount") -> str:
    """The signed amount of the entry whose type and amount are the SQL expressions given
    (columns, or parameters such as ':entry_type')."""
    return f"(CASE WHEN {entry_type} = '{EntryType.CREDIT}' THEN {amount} ELSE -{amount} END)"


def available(balance: str, student: str) -> str:
    """The available balance: `balance` (an SQL expression, e.g. p.credit_balance) minus the
    held total of the student named by the SQL expression `student`."""
    return f"({balance} - {held_sql(student)})"
