"""One replica of a slow agent on `a2a_app`, as a process of its own, for tests of replicas sharing a task store.

    python -m support.replica_agent      # PYTHONPATH=tests:. ; settings from the environment below

`SleepyAgent` says `SLEEP_STAGE`, sleeps the seconds its message asks for (`sleep 5`), then answers
`{"slept": 5, "before": <what it slept last in this conversation, or null>}` (the session's last
result: a conversation continued on another replica finds it when the sessions are shared).
The process serves it with `common.serving.run_http` (as `sre serve` does) on
`REPLICA_PORT`, its tasks in `REPLICA_TASK_STORE_URL`, verifying tokens of the issuer
`REPLICA_ISSUER` (keys at `REPLICA_JWKS_URL`) for its own URL, with `REPLICA_LEASE_SECONDS`,
`REPLICA_MAX_CONCURRENT_TASKS` and `REPLICA_MAX_QUEUED_TASKS`; with `REPLICA_REUSE_PORT=1`, several
replicas share the port (`SRE_REUSE_PORT`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

from common.agents import AgentCardSpec, SkillSpec, a2a_app
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent
from common.auth.resource import resource_verifier
from common.http import create_http_client
from common.serving import run_http
from common.settings import AuthConfig, ServeSettings
from support.stand_in_agent import stand_in_settings

__all__ = ["SLEEP_STAGE", "SPEC", "SleepyAgent"]

SLEEP_STAGE = "Sleeping as asked."
SPEC = AgentCardSpec(
    name="sleepy",
    description="Sleeps as long as asked.",
    skills=(SkillSpec(id="sleepy-sleep", name="Sleep", description="Sleeps.", tags=("sleep",)),),
)


class SleepyAgent(PipelineAgent):
    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        asked = re.search(r"sleep (\d+(?:\.\d+)?)", request.text)
        seconds = float(asked.group(1)) if asked else 0.0
        await progress(SLEEP_STAGE)
        await asyncio.sleep(seconds)
        before = request.last_result.get("slept") if request.last_result else None
        return AgentResult({"slept": seconds, "before": before}, f"Slept {seconds:g} s.")


async def main() -> None:
    env = os.environ
    serve = ServeSettings(
        port=int(env["REPLICA_PORT"]),
        reuse_port=env.get("REPLICA_REUSE_PORT") == "1",
        registry_url=env["REPLICA_ISSUER"],
        auth=AuthConfig(issuer=env["REPLICA_ISSUER"], jwks_url=env["REPLICA_JWKS_URL"]),
    )
    agent = SleepyAgent(name=SPEC.name, settings=stand_in_settings(Path(env["REPLICA_DATA_DIR"])))
    async with create_http_client(timeout=10.0) as http:
        app = a2a_app(
            agent=agent,
            card=SPEC,
            serve=serve,
            verifier=resource_verifier(serve, serve.base_url, http),
            task_store_url=env["REPLICA_TASK_STORE_URL"],
            lease_seconds=float(env["REPLICA_LEASE_SECONDS"]),
            max_concurrent_tasks=int(env["REPLICA_MAX_CONCURRENT_TASKS"]),
            max_queued_tasks=int(env["REPLICA_MAX_QUEUED_TASKS"]),
        )
        await run_http(app, serve)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
