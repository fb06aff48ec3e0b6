"""Pods as kube-state-metrics describes them: which workload owns a pod, which pod holds an IP address.

A pod's workload is read from its name's suffix (`identity.workload_of_pod`) unless kube-state-metrics
says who owns it: `kube_pod_owner{namespace,pod,owner_kind,owner_name}` names its ReplicaSet (or
StatefulSet, DaemonSet, Job), `kube_replicaset_owner{namespace,replicaset,owner_kind,owner_name}` the
ReplicaSet's Deployment; the owner chain beats the guess (a Deployment named `ledger-v2` whose pods
look like `ledger-...`). `kube_pod_info{pod_ip}` turns a scrape target's IP address into its pod.

`PodDirectory` asks Prometheus once per namespace and per address for an investigation (each
answer at most MAX_SERIES label sets) and keeps the answers for that investigation only: pods come
and go, so nothing is cached across investigations. A failed call leaves the name-suffix rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendError
from common.investigation.identity import PodOwners, workload_of_pod

__all__ = ["MAX_SERIES", "PodDirectory"]

#: Label sets read per question, at most (a namespace's pods and ReplicaSets over the window).
MAX_SERIES = 1000


class PodDirectory:
    """kube-state-metrics' pods, owners and addresses between `start` and `end` (what the tools take)."""

    def __init__(self, prometheus: PrometheusMcp, *, start: str, end: str) -> None:
        self._prometheus = prometheus
        self._start, self._end = start, end
        self._owners: dict[str, PodOwners | None] = {}
        self._addresses: dict[str, tuple[str, str] | None] = {}

    async def owners(self, namespace: str) -> PodOwners | None:
        """The owners of `namespace`'s pods and ReplicaSets, None when kube-state-metrics has none or fails."""
        if namespace not in self._owners:
            pods = await self._series("kube_pod_owner", {"namespace": namespace})
            replicasets = await self._series("kube_replicaset_owner", {"namespace": namespace})
            self._owners[namespace] = PodOwners.of(pods, replicasets) if pods else None
        return self._owners[namespace]

    async def workload(self, pod: str, namespace: str | None) -> str | None:
        """The workload owning `pod`: its owner chain when kube-state-metrics has it, else its name's suffix."""
        owners = await self.owners(namespace) if namespace else None
        return workload_of_pod(pod, owners)

    async def pod_at(self, address: str) -> tuple[str, str] | None:
        """(namespace, pod) of the pod whose IP is `address` in the window; None when none or several pods had it
        (an address reused by a later pod names neither for sure)."""
        if address not in self._addresses:
            found = {
                (s["namespace"], s["pod"])
                for s in await self._series("kube_pod_info", {"pod_ip": address})
                if s.get("namespace") and s.get("pod")
            }
            self._addresses[address] = found.pop() if len(found) == 1 else None
        return self._addresses[address]

    async def workload_at(self, address: str) -> tuple[str, str] | None:
        """(namespace, workload) of the pod whose IP is `address`, None when unknown."""
        pod = await self.pod_at(address)
        if pod is None:
            return None
        workload = await self.workload(pod[1], pod[0])
        return None if workload is None else (pod[0], workload)

    async def _series(self, metric: str, matchers: Mapping[str, str]) -> list[dict[str, str]]:
        try:
            answer = await self._prometheus.find_series(
                metric, matchers=dict(matchers), start=self._start, end=self._end, limit=MAX_SERIES
            )
        except BackendError:
            return []  # the name-suffix rule stands; the readers that need the series note their own failures
        return answer.series
