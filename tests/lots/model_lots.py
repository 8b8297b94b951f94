"""A plain Python mirror of the credit lots for the ledger model test: migration 0013's SQL
(`lots_take`, `lots_pay_debts`, `lots_return_hold`, `lots_settle`, `lots_reserve`,
`lots_consume_hold`, `lots_claw`, `lots_give_back`) re-stated rule by rule, on a clock the
test controls (`now`: the world's instant, the database's clock plus the time travelled).

It predicts what every lot holds, what each expiry writes off, which lots a clawback took (a
give-back returns lots like them) and the debts, independently of the database; the test
compares the two after every step. Two choices the SQL leaves to PostgreSQL's row order are
not predictable. Several holds of a student closing in one settle beside a debt: the first to
give back pays it, so even the balance may differ (credits back to an expired lot pay the debt,
or expire when another hold paid it first); `outcomes` lists the balance of every order and
the test takes the database's after checking it is one of them. One hold giving credits back
to several expired lots beside a debt: only the split between those lots differs; the mirror
flags the student (`Wallet.ambiguous`) and the test adopts the database's split after checking
every total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import permutations

from tests.support.accounts import Account

NEVER = datetime.max.replace(tzinfo=UTC)
DEFAULT_PRIORITY = 50  # every lot the model makes (only promotions choose another)


@dataclass
class Lot:
    index: int  # its place among the student's lots (the database's seq order)
    kind: str  # PAID or GRANTED
    amount: int
    expires: datetime | None  # on the world's clock; None: never
    remaining: int
    payment: str | None = None  # the payment whose purchase made it (its own lot)
    reserved: int = 0
    swept: bool = False
    exact: bool = True  # False until the database's expiry (server-side now()) is bound

    @property
    def free(self) -> int:
        return self.remaining - self.reserved

    def order(self) -> tuple[int, datetime, bool, int]:
        """THE spend order: priority, soonest expiry (never last), granted first, oldest."""
        return (DEFAULT_PRIORITY, self.expires or NEVER, self.kind == "PAID", self.index)


@dataclass
class Movement:
    """A CLAWBACK movement (a clawback's or a debt payment's): what a give-back returns."""

    lot: Lot
    credits: int
    payment: str | None  # the clawback entry's source_id (its payment), None for none
    given_back: int = 0


@dataclass
class Debt:
    remaining: int
    payment: str | None


@dataclass
class HoldModel:
    student: Account
    amount: int
    expires: datetime  # on the world's clock
    status: str = "ACTIVE"
    reservations: dict[int, int] = field(default_factory=dict)  # lot index -> credits


@dataclass
class Wallet:
    lots: list[Lot] = field(default_factory=list)
    debts: list[Debt] = field(default_factory=list)
    clawed: list[Movement] = field(default_factory=list)  # in the order they were made
    expired: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # by lot index
    ambiguous: bool = False

    @property
    def owed(self) -> int:
        return sum(d.remaining for d in self.debts)


class Mirror:
    """The lots of every student; `balances` (the ledger model's) loses what expires."""

    def __init__(
        self, now: Callable[[], datetime], balances: dict[str, int], holds: dict[str, HoldModel]
    ) -> None:
        self.now, self.balances, self.holds = now, balances, holds
        self.wallets: dict[str, Wallet] = defaultdict(Wallet)

    def expired(self, lot: Lot) -> bool:
        return lot.expires is not None and lot.expires <= self.now()

    # lots_take: free credits in the spend order (unexpired lots), or from one lot (any).
    def take(
        self, wallet: Wallet, amount: int, *, only: Lot | None = None,
        clawback: bool = False, payment: str | None = None,
    ) -> int:  # fmt: skip
        """Take up to `amount`; a clawback's (or a debt payment's) movements are recorded."""
        pool = [only] if only is not None else [x for x in wallet.lots if not self.expired(x)]
        taken = 0
        for lot in sorted((x for x in pool if x.free > 0), key=Lot.order):
            if taken == amount:
                break
            credits = min(lot.free, amount - taken)
            lot.remaining -= credits
            taken += credits
            if clawback:
                wallet.clawed.append(Movement(lot, credits, payment))
        return taken

    def pay_debts(self, wallet: Wallet, only: Lot | None = None) -> None:
        for debt in [d for d in wallet.debts if d.remaining > 0]:
            taken = self.take(
                wallet, debt.remaining, only=only, clawback=True, payment=debt.payment
            )
            if taken == 0:
                break
            debt.remaining -= taken

    def expire(self, student_id: str, lot: Lot, credits: int) -> None:
        if credits <= 0:
            return
        wallet = self.wallets[student_id]
        assert self.take(wallet, credits, only=lot) == credits
        wallet.expired[lot.index] += credits
        self.balances[student_id] -= credits

    def return_hold(self, hold: HoldModel) -> None:
        student_id = hold.student.id
        wallet = self.wallets[student_id]
        back = [(wallet.lots[i], n) for i, n in hold.reservations.items()]
        hold.reservations = {}
        if wallet.owed and sum(1 for lot, n in back if n > 0 and self.expired(lot)) > 1:
            wallet.ambiguous = True  # which expired lot pays the debt: the rows' order
        for lot, credits in back:
            lot.reserved -= credits
            if credits > 0 and self.expired(lot):
                self.pay_debts(wallet, lot)
                self.expire(student_id, lot, lot.free)
        self.pay_debts(wallet)

    def due_holds(self, student_id: str) -> list[tuple[str, HoldModel]]:
        return [
            (hold_id, h) for hold_id, h in self.holds.items()
            if h.student.id == student_id and h.status == "ACTIVE" and h.expires <= self.now()
        ]  # fmt: skip

    def order_matters(self, student_id: str) -> bool:
        """Several holds closing in one settle beside a debt: the first to give back pays it,
        and lots_settle takes them in the rows' order, so the balance itself may differ
        (credits back to an expired lot pay the debt, or expire if another hold paid it)."""
        return len(self.due_holds(student_id)) > 1 and self.wallets[student_id].owed > 0

    def outcomes(self, student_id: str) -> set[int]:
        """The balances a settle may leave, over every order of the holds it closes."""
        due = [hold_id for hold_id, _ in self.due_holds(student_id)]
        found = set()
        for order in permutations(due):
            wallet, holds = deepcopy(
                (self.wallets[student_id], {k: h for k, h in self.holds.items() if k in due})
            )
            scratch = Mirror(self.now, {student_id: self.balances[student_id]}, holds)
            scratch.wallets[student_id] = wallet
            scratch.settle(student_id, order=list(order))
            found.add(scratch.balances[student_id])
        return found

    def settle(self, student_id: str, order: list[str] | None = None) -> None:
        """lots_settle: holds past their expiry give back (in `order`, else as listed), lots
        past theirs expire, once."""
        wallet = self.wallets[student_id]
        # lots_settle's order: the first to expire first, then the oldest (stable sort).
        due = sorted((h for _, h in self.due_holds(student_id)), key=lambda h: h.expires)
        if order is not None:
            due = [self.holds[hold_id] for hold_id in order]
        for hold in due:
            hold.status = "EXPIRED"
            self.return_hold(hold)
        for lot in sorted(
            (x for x in wallet.lots if self.expired(x) and not x.swept),
            key=lambda x: (x.expires, x.index),
        ):
            self.expire(student_id, lot, lot.free)
            lot.swept = True

    def credit(
        self, student_id: str, kind: str, amount: int, expires: datetime | None, *,
        exact: bool = True, payment: str | None = None,
    ) -> Lot:  # fmt: skip
        wallet = self.wallets[student_id]
        lot = Lot(len(wallet.lots), kind, amount, expires, amount, payment, exact=exact)
        wallet.lots.append(lot)
        self.pay_debts(wallet)
        return lot

    def debit(self, student_id: str, amount: int) -> None:
        """A spend or a negative adjustment (the ledger checked the cover)."""
        assert self.take(self.wallets[student_id], amount) == amount

    def reserve(self, hold: HoldModel, amount: int) -> None:
        wallet = self.wallets[hold.student.id]
        pool = [x for x in wallet.lots if not self.expired(x) and x.free > 0]
        left = amount
        for lot in sorted(pool, key=Lot.order):
            credits = min(lot.free, left)
            if credits == 0:
                break
            lot.reserved += credits
            hold.reservations[lot.index] = hold.reservations.get(lot.index, 0) + credits
            left -= credits
        assert left == 0, f"only {amount - left} of {amount} free to reserve"

    def consume(self, hold: HoldModel, amount: int) -> None:
        """A capture: `amount` of the reserved credits used in their lots' order, the rest back."""
        wallet = self.wallets[hold.student.id]
        left = amount
        for lot in sorted((wallet.lots[i] for i in hold.reservations), key=Lot.order):
            credits = min(hold.reservations[lot.index], left)
            lot.remaining -= credits
            lot.reserved -= credits
            hold.reservations[lot.index] -= credits
            left -= credits
        assert left == 0
        self.return_hold(hold)

    def claw(self, student_id: str, amount: int, payment: str | None = None) -> None:
        """From the purchase's own lot, then the spend order, then a debt."""
        wallet = self.wallets[student_id]
        own = next((x for x in wallet.lots if payment and x.payment == payment), None)
        left = amount
        if own is not None:
            left -= self.take(wallet, left, only=own, clawback=True, payment=payment)
        left -= self.take(wallet, left, clawback=True, payment=payment)
        if left > 0:
            wallet.debts.append(Debt(left, payment))

    def give_back(self, student_id: str, payment: str, amount: int) -> None:
        """Lots like those the payment's clawbacks took, newest first; then like its own."""
        wallet = self.wallets[student_id]
        left, first = amount, len(wallet.lots)
        for movement in reversed([m for m in wallet.clawed if m.payment == payment]):
            open_ = movement.credits - movement.given_back
            if left == 0:
                break
            if open_ <= 0:
                continue
            credits = min(left, open_)
            lot = movement.lot
            wallet.lots.append(
                Lot(len(wallet.lots), lot.kind, credits, lot.expires, credits, exact=lot.exact)
            )
            movement.given_back += credits
            left -= credits
        if left > 0:
            own = next(x for x in wallet.lots if x.payment == payment)
            wallet.lots.append(
                Lot(len(wallet.lots), own.kind, left, own.expires, left, exact=own.exact)
            )
        for lot in wallet.lots[first:]:  # born past its expiry: pays debts first (0019)
            if self.expired(lot):
                self.pay_debts(wallet, lot)
        self.pay_debts(wallet)

    # What the balance endpoint shows (lots.repository.BY_KIND, EXPIRING), once settled.
    def by_kind(self, student_id: str) -> dict[str, int]:
        wallet = self.wallets[student_id]
        shown = {"PAID": 0, "GRANTED": 0}
        running, owed = 0, wallet.owed
        for lot in sorted(wallet.lots, key=Lot.order):
            holds = lot.reserved if self.expired(lot) else lot.remaining
            running += holds
            shown[lot.kind] += max(0, min(holds, running - owed))
        return {"paid": shown["PAID"], "granted": shown["GRANTED"]}

    def expiring(self, student_id: str, shown: int = 3) -> list[tuple[int, datetime]]:
        by_instant: dict[datetime, int] = defaultdict(int)
        for lot in self.wallets[student_id].lots:
            if lot.expires is not None and lot.free > 0 and not self.expired(lot):
                by_instant[lot.expires] += lot.free
        return [(by_instant[at], at) for at in sorted(by_instant)[:shown]]
