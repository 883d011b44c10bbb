"""Query parameters that handlers read themselves, so that an error names the parameter as sent.

Litestar would name `from` after the Python argument it lands in (`created_from`); these are
taken as strings and parsed here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.openapi.spec import OpenAPIFormat
from litestar.params import QueryParameter

from kitchen.fields import FieldError
from kitchen.orders.schemas import as_utc

From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format=OpenAPIFormat.DATE_TIME,
        description="Start of the range, inclusive (ISO 8601; naive is UTC).",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        format=OpenAPIFormat.DATE_TIME,
        description="End of the range, exclusive (ISO 8601; naive is UTC).",
    ),
]
# The analytics figures: the range the server accepts, said in the schema (analytics.periods.asked_period).
FigureFrom = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format=OpenAPIFormat.DATE_TIME,
        description="Start of the range, inclusive (ISO 8601; naive is UTC), in the years 2000 to 2099."
        " Default: `to` minus 24 hours. The range spans at most 731 days.",
    ),
]
FigureTo = Annotated[
    str | None,
    QueryParameter(
        name="to",
        format=OpenAPIFormat.DATE_TIME,
        description="End of the range, exclusive (ISO 8601; naive is UTC), in the years 2000 to 2099. Default: now.",
    ),
]
BrandIds = Annotated[
    list[str] | None, QueryParameter(name="brandId", description="Only orders of these brands (repeatable)")
]


def moment(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 query value as an aware UTC datetime; a 400 naming `field` when it is not one."""
    if value is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(value), field)
    except ValueError as exc:
        raise FieldError(
            field, f"{field}: {value!r} is not an ISO 8601 date and time in the years 1 to 9999", parameter=True
        ) from exc
