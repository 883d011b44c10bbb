"""The brand catalog API: names and colours for the ids that channels send."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from kitchen.auth.guards import api_client
from kitchen.brands.models import Brand
from kitchen.brands.schemas import BrandIn, BrandView
from kitchen.brands.service import BrandService
from kitchen.errors import ERROR_RESPONSES


def brand_view(brand: Brand) -> BrandView:
    return BrandView(id=brand.id, name=brand.name, colour=brand.colour)


class BrandController(Controller):
    path = "/api/brands"
    guards = [api_client]
    tags = ["brands"]

    @get("/", summary="The brand catalog, by name", responses=ERROR_RESPONSES())
    async def list_brands(self, brand_service: NamedDependency[BrandService]) -> list[BrandView]:
        return [brand_view(b) for b in await brand_service.catalog()]

    @put(
        "/{brand_id:str}",
        summary="Create or replace a brand",
        description="201 when the brand is new, 200 when it replaced an existing one.",
        responses={
            **ERROR_RESPONSES(400, 422),
            HTTP_201_CREATED: ResponseSpec(data_container=BrandView, description="The brand is new"),
        },
    )
    async def put_brand(
        self,
        brand_service: NamedDependency[BrandService],
        brand_id: Annotated[str, PathParameter(max_length=64, min_length=1)],
        data: JSONBody[BrandIn],
    ) -> Response[BrandView]:
        brand, created = await brand_service.put(brand_id, data.name, data.colour)
        return Response(brand_view(brand), status_code=HTTP_201_CREATED if created else HTTP_200_OK)
