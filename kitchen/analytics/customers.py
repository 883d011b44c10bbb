"""The customers figure: who ordered in a range, and how many orders they have placed up to its end.

Counts come from the per-account lifetime totals (`analytics_customers`), less the orders placed
from the end of the range on, which for a range ending now are none: no pass over the orders
themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, Select, case, func, literal, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kitchen.analytics.periods import Period
from kitchen.analytics.schemas import CustomerBucket, CustomerBucketName, Customers, TopCustomer
from kitchen.orders.models import Order
from kitchen.orders.summaries.tables import AnalyticsCustomer

TOP_CUSTOMERS = 10
CUSTOMER_BUCKETS: tuple[CustomerBucketName, ...] = ("1", "2", "3-5", "6-10", "11+")


async def customers_of(session: AsyncSession, period: Period) -> Customers:
    """How many orders the customers who ordered in the period have placed in all, up to its end.

    `distribution` counts those customers by their order count (1, 2, 3-5, 6-10, 11+);
    `top` lists the ten with the most orders (ties: the most recent order first), with
    their first and last order. With a brand filter, only orders of those brands count.
    """
    lifetime = _lifetimes(period)
    # Both answers from one statement, so the orders are grouped once.
    rows = (await session.execute(union_all(_top(lifetime), _buckets(lifetime)))).all()
    found = {row.name: int(row.number) for row in rows if row.kind == "bucket"}
    top = sorted(
        (row for row in rows if row.kind == "top"),
        key=lambda row: (-row.number, -row.last_order_at.timestamp(), row.name),
    )
    names = await _latest_names(session, [row.name for row in top], period)
    return Customers(
        distribution=[CustomerBucket(bucket=name, customers=found.get(name, 0)) for name in CUSTOMER_BUCKETS],
        top=[
            TopCustomer(
                account=row.name,
                name=names.get(row.name, ""),
                order_count=int(row.number),
                first_order_at=row.first_order_at,
                last_order_at=row.last_order_at,
            )
            for row in top
        ],
    )


def _lifetimes(period: Period) -> CTE:
    """Per customer who ordered in the period: orders, first and last order up to its end.

    A customer ordered in the period when their last order before its end is at or after its
    start. Lifetime totals minus the orders from the end on.
    """
    c, later, earlier = AnalyticsCustomer, aliased(Order), aliased(Order)
    candidates = select(c.account).where(c.last_order_at >= period.start, *period.brand_filter(c.brand_id))
    totals = (
        select(
            c.account.label("account"),
            func.sum(c.orders).label("total"),
            func.min(c.first_order_at).label("first_order_at"),
            func.max(c.last_order_at).label("last_order_at"),
        )
        .where(c.account.in_(candidates), *period.brand_filter(c.brand_id))
        .group_by(c.account)
        .subquery("totals")
    )
    after = (
        select(later.account.label("account"), func.count().label("orders"))
        .where(later.created_at >= period.end, *period.brand_filter(later.brand_id))
        .group_by(later.account)
        .subquery("after")
    )
    last_before_end = (
        select(func.max(earlier.created_at))
        .where(
            earlier.account == totals.c.account,
            earlier.created_at < period.end,
            *period.brand_filter(earlier.brand_id),
        )
        .scalar_subquery()
    )
    up_to_end = (
        select(
            totals.c.account,
            (totals.c.total - func.coalesce(after.c.orders, 0)).label("orders"),
            totals.c.first_order_at,
            case((after.c.orders.is_(None), totals.c.last_order_at), else_=last_before_end).label("last_order_at"),
        )
        .join_from(totals, after, after.c.account == totals.c.account, isouter=True)
        .subquery("up_to_end")
    )
    return select(up_to_end).where(up_to_end.c.orders > 0, up_to_end.c.last_order_at >= period.start).cte("lifetime")


def _top(lifetime: CTE) -> Select[Any]:
    """The customers with the most orders, as rows (kind 'top', account, orders, first, last)."""
    n = lifetime.c.orders
    top = (
        select(
            literal_column("'top'").label("kind"),
            lifetime.c.account.label("name"),
            n.label("number"),
            lifetime.c.first_order_at,
            lifetime.c.last_order_at,
        )
        .order_by(n.desc(), lifetime.c.last_order_at.desc(), lifetime.c.account)
        .limit(TOP_CUSTOMERS)
        .subquery("top")
    )
    return select(top)


def _buckets(lifetime: CTE) -> Select[Any]:
    """How many customers have each bucket's number of orders, as rows (kind 'bucket', bucket, customers, ...)."""
    n = lifetime.c.orders
    bucket = case((n == 1, "1"), (n == 2, "2"), (n <= 5, "3-5"), (n <= 10, "6-10"), else_="11+")
    return select(
        literal_column("'bucket'"),
        bucket,
        func.count(),
        func.min(lifetime.c.first_order_at),
        func.max(lifetime.c.last_order_at),
    ).group_by(bucket)


async def _latest_names(session: AsyncSession, accounts: Sequence[str], period: Period) -> dict[str, str]:
    """The customer name on each account's latest order up to the period's end.

    One index probe per account (the top customers are ten): a join on each account's latest
    time made PostgreSQL scan every order.
    """
    if not accounts:
        return {}
    names = union_all(
        *(
            select(
                literal(account).label("account"),
                select(Order.customer_name)
                .where(Order.account == account, Order.created_at < period.end)
                .order_by(Order.created_at.desc())
                .limit(1)
                .scalar_subquery()
                .label("name"),
            )
            for account in accounts
        )
    )
    return {row.account: row.name or "" for row in await session.execute(names)}
