"""Reports for managers and the back office (rules in field_api.services.reports).

GET /api/v1/reports/sales?group_by=territory|rep|product|day&from=&to=   manager, backoffice, admin
GET /api/v1/reports/visits?from=&to=                                     manager, backoffice, admin

``from`` and ``to`` are UTC days (``YYYY-MM-DD``), ``to`` exclusive; default the last 30 days.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from sync_gateway.auth.authenticate import Principal

from ..deps import RuntimeDep, ViewsReadyDep, require_roles
from ..services import reports as svc

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Readers = Annotated[Principal, Depends(require_roles("manager", "backoffice", "admin"))]
DAY = r"^\d{4}-\d{2}-\d{2}$"
FromDay = Annotated[
    str | None,
    Query(alias="from", pattern=DAY, description="first UTC day (inclusive); default 30 days ago"),
]
ToDay = Annotated[
    str | None, Query(pattern=DAY, description="UTC day after the last one; default tomorrow")
]


class SalesRow(BaseModel):
    group: str | None = Field(
        description="territory id (null: account in no territory), rep id, SKU or day"
    )
    currency: str
    amount: str = Field(description="decimal string, two fraction digits", examples=["1234.50"])
    orders: int | None = Field(description="orders counted (null when grouped by product)")
    lines: int | None = Field(description="order lines counted (product only)")
    quantity: int | float | None = Field(description="effective quantity sold (product only)")


class CurrencyTotal(BaseModel):
    currency: str
    amount: str
    orders: int | None


class SalesOut(BaseModel):
    group_by: str
    from_: str = Field(alias="from")
    to: str
    statuses: list[str] = Field(description="the order statuses counted as sales")
    rows: list[SalesRow]
    totals: list[CurrencyTotal] = Field(description="per currency, never across currencies")

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "group_by": "rep",
                    "from": "2024-05-01",
                    "to": "2024-06-01",
                    "statuses": ["confirmed", "shipped", "invoiced"],
                    "rows": [
                        {
                            "group": "alice",
                            "currency": "EUR",
                            "amount": "1234.50",
                            "orders": 12,
                            "lines": None,
                            "quantity": None,
                        },
                        {
                            "group": "alice",
                            "currency": "NOK",
                            "amount": "980.00",
                            "orders": 2,
                            "lines": None,
                            "quantity": None,
                        },
                    ],
                    "totals": [
                        {"currency": "EUR", "amount": "1234.50", "orders": 12},
                        {"currency": "NOK", "amount": "980.00", "orders": 2},
                    ],
                }
            ]
        },
    )


class VisitCoverage(BaseModel):
    planned: int = Field(description="visits scheduled in the range, except cancelled ones")
    done: int
    in_progress: int
    open: int = Field(description="still in status planned")
    cancelled: int
    coverage_pct: float | None = Field(description="done / planned * 100, one decimal")


class AssigneeCoverage(VisitCoverage):
    assignee_id: str


class VisitsOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    rows: list[AssigneeCoverage]
    totals: VisitCoverage

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "2024-05-01",
                    "to": "2024-05-08",
                    "rows": [
                        {
                            "assignee_id": "bob",
                            "planned": 6,
                            "done": 4,
                            "in_progress": 1,
                            "open": 1,
                            "cancelled": 1,
                            "coverage_pct": 66.7,
                        }
                    ],
                    "totals": {
                        "planned": 6,
                        "done": 4,
                        "in_progress": 1,
                        "open": 1,
                        "cancelled": 1,
                        "coverage_pct": 66.7,
                    },
                }
            ]
        },
    )


@router.get("/sales", response_model_by_alias=True)
async def sales(
    _: Readers,
    rt: RuntimeDep,
    ready: ViewsReadyDep,
    group_by: Annotated[svc.GroupBy, Query(description="how rows are grouped")] = "day",
    from_: FromDay = None,
    to: ToDay = None,
) -> SalesOut:
    """Sales of confirmed, shipped and invoiced orders per group and currency."""
    report: dict[str, Any] = await svc.sales_report(
        rt.couch, rt.dbs, ready, group_by=group_by, start=from_, end=to
    )
    return SalesOut.model_validate(report)


@router.get("/visits", response_model_by_alias=True)
async def visits(
    _: Readers, rt: RuntimeDep, ready: ViewsReadyDep, from_: FromDay = None, to: ToDay = None
) -> VisitsOut:
    """Visit coverage per assignee: planned vs done."""
    report: dict[str, Any] = await svc.visits_report(rt.couch, rt.dbs, ready, start=from_, end=to)
    return VisitsOut.model_validate(report)
