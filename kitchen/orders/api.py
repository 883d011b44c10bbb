"""The JSON API that delivery-channel integrations call, under /api/orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from kitchen.auth.guards import api_client
from kitchen.errors import ERROR_RESPONSES
from kitchen.fields import FieldError
from kitchen.orders.models import EventSource
from kitchen.orders.read import from_orm, order_view
from kitchen.orders.schemas import (
    NewOrder,
    OrderPage,
    OrderView,
    StatusChange,
)
from kitchen.orders.service import OrderQuery, OrderService
from kitchen.orders.status import UnknownStatus, parse_order_status
from kitchen.params import From, To, moment


def example_order() -> dict[str, object]:
    """The README's example order, picked up in half an hour: what "Try it out" sends as is."""
    pickup = datetime.now(UTC) + timedelta(minutes=30)
    return {
        "id": "60f87ea2a52dad8a3fa4860",
        "account": "60bfc6dc4887c9851d5a0246",
        "brandId": "60bfc6dc4887c9851d5a0245",
        "channelOrderId": "TEST1626898082",
        "customer": {"name": "John Doe", "phoneNumber": "+123456789"},
        "deliveryAddress": {"city": "Helsinki", "street": "Huuvatie 1", "postalCode": "00100"},
        "pickupTime": pickup.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "items": [
            {"name": "Hawaii Burger", "plu": "CAT1-0001", "quantity": 1},
            {"name": "Sushi Set Large", "plu": "CAT2-0001", "quantity": 1},
        ],
        "status": 1,
    }


NewOrderBody = Annotated[
    NewOrder,
    Body(
        media_type=RequestEncodingType.JSON,
        examples=[Example(summary="An order as a channel sends it", value=example_order())],
    ),
]
StatusBody = Annotated[
    StatusChange,
    Body(
        media_type=RequestEncodingType.JSON, examples=[Example(summary="Start cooking", value={"status": "PREPARING"})]
    ),
]

MAX_FILTER_VALUES = 100
# Paging deeper than this is a scan, not a page: a filter narrows it (from/to) instead.
MAX_OFFSET = 1_000_000


class OrderController(Controller):
    path = "/api/orders"
    guards = [api_client]
    tags = ["orders"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Create an order (idempotent)",
        description=(
            "Takes a delivery channel's payload as it comes: camelCase or snake_case keys, `_id` or `id`,"
            " unknown keys ignored, statuses by name or code. Sending the same order again returns it"
            " with 200 and writes nothing; the same id or (brandId, channelOrderId) with other content"
            " is a 409."
        ),
        responses={
            **ERROR_RESPONSES(400, 409, 413, 422),
            HTTP_200_OK: ResponseSpec(
                data_container=OrderView, description="Sent before with the same content: the stored order"
            ),
        },
    )
    async def create_order(self, orders: NamedDependency[OrderService], data: NewOrderBody) -> Response[OrderView]:
        order, created = await orders.ingest(data, EventSource.API)
        return Response(order_view(order), status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get("/", summary="List orders, newest first", responses=ERROR_RESPONSES(400))
    async def list_orders(
        self,
        orders: NamedDependency[OrderService],
        max_page_size: NamedDependency[int],
        status: FromQuery[list[str] | None] = None,
        brand_id: Annotated[list[str] | None, QueryParameter(name="brandId")] = None,
        account: FromQuery[str | None] = None,
        created_from: From = None,
        created_to: To = None,
        limit: Annotated[int, QueryParameter(ge=1, description="page size, capped at KITCHEN_MAX_PAGE_SIZE")] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET, description="orders to skip")] = 0,
    ) -> OrderPage:
        # Filters are lists a caller could make huge; no request may make the database do unbounded work.
        for field, values in (("status", status), ("brandId", brand_id)):
            if values and len(values) > MAX_FILTER_VALUES:
                raise FieldError(field, f"{field}: at most {MAX_FILTER_VALUES} values", parameter=True)
        try:
            statuses = [parse_order_status(value) for value in status or []]
        except UnknownStatus as exc:
            raise FieldError("status", str(exc), parameter=True) from exc
        limit = min(limit, max_page_size)
        page, total = await orders.list_orders(
            OrderQuery(
                statuses=statuses,
                brand_ids=brand_id or [],
                account=account,
                created_from=moment("from", created_from),
                created_to=moment("to", created_to),
                limit=limit,
                offset=offset,
            )
        )
        return OrderPage(items=[order_view(from_orm(o)) for o in page], total=total, limit=limit, offset=offset)

    @get("/{order_id:str}", summary="One order with its items and history", responses=ERROR_RESPONSES(404))
    async def get_order(self, orders: NamedDependency[OrderService], order_id: FromPath[str]) -> OrderView:
        return await orders.read_order(order_id)

    @patch(
        "/{order_id:str}/status",
        summary="Change an order's status",
        description="PREPARING starts every ordered item, READY bumps every open item, PICKED_UP only from"
        " READY, CANCELLED from anything but PICKED_UP. Repeating the current status changes nothing.",
        responses=ERROR_RESPONSES(400, 404, 409, 422),
    )
    async def set_order_status(
        self, orders: NamedDependency[OrderService], order_id: FromPath[str], data: StatusBody
    ) -> OrderView:
        return order_view(await orders.set_order_status(order_id, data.status, EventSource.API))

    @patch(
        "/{order_id:str}/lines/{line:int}/status",
        summary="Change one line's status",
        description="`line` is the item's 1-based position in the order as sent (every item in a response"
        " has it). Items move one step: ORDERED, PREPARING, READY, or one step back as an undo."
        " Returns the whole order so the caller sees its derived status.",
        responses=ERROR_RESPONSES(400, 404, 409, 422),
    )
    async def set_line_status(
        self,
        orders: NamedDependency[OrderService],
        order_id: FromPath[str],
        line: FromPath[int],
        data: StatusBody,
    ) -> OrderView:
        return order_view(await orders.set_line_status(order_id, line, data.status, EventSource.API))

    @patch(
        "/{order_id:str}/items/{plu:str}/status",
        summary="Change one item's status, by PLU",
        description="As the line route, naming the item by its PLU. When the order has that PLU on several"
        " lines the answer is 409 `ambiguous_plu` with the `lines`, and nothing changes.",
        responses=ERROR_RESPONSES(400, 404, 409, 422),
    )
    async def set_item_status(
        self,
        orders: NamedDependency[OrderService],
        order_id: FromPath[str],
        plu: FromPath[str],
        data: StatusBody,
    ) -> OrderView:
        return order_view(await orders.set_item_status(order_id, plu, data.status, EventSource.API))
