"""What several controlplane-mcp tools share: naming a resource, reading a bounded list, bounding a window."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from common.contracts.controlplane import ItemsResult
from common.errors import InputError, NotFound
from common.mcp.bounds import bounds, clamp_limit, clamp_window
from common.mcp.tools import ToolGroup
from common.scopes import CONTROLPLANE_READ
from common.timerange import TimeArgument, TimeRange, iso
from servers.controlplane_mcp.client import API, ApiError, ControlPlaneClient
from servers.controlplane_mcp.settings import Limits

__all__ = ["ARGUMENTS", "ControlPlaneTools", "Lookup", "Namespace", "OfResource", "Resource", "segment"]

# What `resource`, `namespace`, `approval_id` and `reason` mean is the same in every tool: the
# server's instructions say it once (`ARGUMENTS`), not each tool's schema.
Resource = Annotated[str, Field()]
Namespace = Annotated[str | None, Field()]
# A filter on the resource of an item.
OfResource = Annotated[str | None, Field()]
ARGUMENTS = (
    "`resource` is a resource's id or name (with `namespace`, e.g. 'prod', when a name is ambiguous). A write "
    "tool that takes approval_id, called without one, requests an approval (its `reason` is shown to the "
    "approver) and returns it pending; nothing runs until someone else approves it; call again with its id."
)


class Lookup:
    def __init__(self, client: ControlPlaneClient, limits: Limits) -> None:
        self.client = client
        self.limits = limits

    async def matches(self, query: str, namespace: str | None, kind: str | None, cap: int) -> list[dict[str, Any]]:
        """The resource with id `query`, or else those named exactly so, or else those whose name contains it."""
        filters = [(k, v) for k, v in (("namespace", namespace), ("kind", kind)) if v]
        try:
            return [await self.client.get(f"{API}/resources/{segment(query)}")]
        except ApiError as exc:
            if exc.status_code != 404:
                raise
        exact, _ = await self.client.page(f"{API}/resources", [*filters, ("name", query)], limit=cap)
        if exact:
            return exact
        partial, _ = await self.client.page(f"{API}/resources", [*filters, ("q", query)], limit=cap)
        return partial

    async def labelled(
        self, label: str, query: str, namespace: str | None, kind: str | None, cap: int
    ) -> list[dict[str, Any]]:
        """The resources with the label `key=value`, then those whose pods' selector holds it (a pod's
        label names its workload either way), named like `query` when one is given."""
        if "=" not in label:
            raise InputError(f"label {label!r} is not key=value, e.g. app.kubernetes.io/name=checkout.")
        filters = [(k, v) for k, v in (("namespace", namespace), ("kind", kind), ("q", query)) if v]
        found: dict[str, dict[str, Any]] = {}
        for held_in in ("label", "selector"):
            page, _ = await self.client.page(f"{API}/resources", [*filters, (held_in, label)], limit=cap)
            for item in page:
                found.setdefault(item["id"], item)
        return list(found.values())[:cap]

    async def resource(self, reference: str, namespace: str | None) -> dict[str, Any]:
        """The one resource `reference` (id or name) names, or InputError saying how to pick it."""
        matches = await self.matches(reference, namespace, None, 20)
        exact = [m for m in matches if reference in (m.get("id"), m.get("name"))]
        if len(exact) == 1:
            return exact[0]
        if not exact:
            similar = ", ".join(f"{m.get('namespace')}/{m.get('name')}" for m in matches[:5])
            hint = f" Similar: {similar}." if similar else " Use controlplane_find_resource to search."
            raise NotFound(f"No resource named {reference!r}" + (f" in {namespace}" if namespace else "") + f".{hint}")
        spaces = ", ".join(str(m.get("namespace")) for m in exact)
        raise InputError(f"{reference!r} exists in several namespaces ({spaces}): give `namespace` too.")

    async def resource_param(self, resource: str | None, namespace: str | None) -> list[tuple[str, str]]:
        """`resource_id` of the resource named, for a list filter; none when no resource is named."""
        return [("resource_id", (await self.resource(resource, namespace))["id"])] if resource else []

    def cap(self, limit: int | None, notes: list[str]) -> int:
        return clamp_limit(limit, self.limits.max_list_items, "items", notes)

    def window(self, start: TimeArgument, end: TimeArgument, notes: list[str]) -> TimeRange:
        return clamp_window(TimeRange.parse(start, end), self.limits.max_range_seconds, notes)

    def window_params(self, start: TimeArgument, end: TimeArgument, notes: list[str]) -> list[tuple[str, str]]:
        window = self.window(start, end, notes)
        return [("start", iso(window.start)), ("end", iso(window.end))]

    async def items(
        self, kind: str, path: str, params: list[tuple[str, str]], limit: int | None, notes: list[str]
    ) -> ItemsResult:
        """A page of a control plane list, newest first as the API gives it."""
        items, more = await self.client.page(path, params, limit=self.cap(limit, notes))
        # The API says whether more match, not how many: total is what was read.
        return ItemsResult(kind=kind, items=items, **bounds(items, len(items), notes, truncated=more))

    async def one(self, kind: str, path: str) -> ItemsResult:
        item = await self.client.get(path)
        return ItemsResult(kind=kind, items=[item], **bounds([item], 1, []))


class ControlPlaneTools(ToolGroup):
    """A group of curated tools; each reads with the control plane scope unless its mark says otherwise."""

    scope = CONTROLPLANE_READ

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.client = lookup.client


def segment(value: str) -> str:
    """A path segment from a caller's value: quoted, so `../` cannot reach another endpoint."""
    return quote(value, safe="")
