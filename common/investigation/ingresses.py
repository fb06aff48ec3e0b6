"""Ingresses: the Services an Ingress routes to, as its controller's series name them.

An alert on an Ingress (`{ingress, exported_namespace}`, a user's rule over ingress-nginx) names no
workload: the Ingress routes to one or more Services. ingress-nginx labels every request series
with the Ingress (`ingress`) and the backend Service it went to (`service`), so the Services an
Ingress routed to in the window are the `service` values of its `nginx_ingress_controller_requests`
series, in its namespace (`exported_namespace` when the controller was scraped in its own
namespace, else `namespace`).
"""

from __future__ import annotations

from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendError

__all__ = ["MAX_SERIES", "backends"]

#: Label sets of an Ingress's request series read, at most.
MAX_SERIES = 1000
_REQUESTS = "nginx_ingress_controller_requests"


async def backends(
    prometheus: PrometheusMcp, ingress: str, namespace: str | None, *, start: str, end: str
) -> list[str]:
    """The Services `ingress` routed requests to, most series first; empty when unknown or Prometheus fails."""
    try:
        answer = await prometheus.find_series(
            _REQUESTS, matchers={"ingress": ingress}, start=start, end=end, limit=MAX_SERIES
        )
    except BackendError:
        return []  # the subject stays the Ingress's name; the readers note their own failures
    counts: dict[str, int] = {}
    for labels in answer.series:
        own_namespace = labels.get("exported_namespace") or labels.get("namespace")
        service = labels.get("service")
        if service and (namespace is None or own_namespace == namespace):
            counts[service] = counts.get(service, 0) + 1
    return sorted(counts, key=lambda s: -counts[s])
