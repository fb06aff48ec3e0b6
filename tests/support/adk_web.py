"""`adk web agents` (the real ADK CLI) on a free port, started from the checkout as the README says."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from support.backends import free_port
from support.eventually import eventually

__all__ = ["adk_web", "artifact"]

ROOT = Path(__file__).resolve().parents[2]
ADK = ROOT / ".venv" / "bin" / "adk"
_START_TIMEOUT = 60.0


@contextmanager
def adk_web(env: Mapping[str, str], workdir: Path) -> Iterator[str]:
    """`adk web agents` with exactly `env` until the context ends; its URL. Its log is `workdir/adk.log`.

    Its HOME is in `workdir`, where ADK's usage-data consent is already answered "no", as a person
    answers its dialog once (the dev UI otherwise opens with that dialog over the chat). Sessions and
    artifacts are kept in memory, not in the checkout's `agents/<app>/.adk/` where ADK keeps them by
    default, so that runs and tests do not see each other's.
    """
    home = workdir / "home"
    (home / ".adk").mkdir(parents=True, exist_ok=True)
    (home / ".adk" / "config.json").write_text(json.dumps({"telemetry": False}))
    port = free_port()
    log = workdir / "adk.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                str(ADK),
                "web",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--session_service_uri",
                "memory://",
                "--artifact_service_uri",
                "memory://",
                "agents",
            ],
            cwd=ROOT,
            env={**env, "HOME": str(home)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def listening() -> bool:
        assert process.poll() is None, log.read_text()
        return httpx.get(f"{url}/list-apps", timeout=2).status_code == 200

    try:
        eventually(
            listening,
            timeout=_START_TIMEOUT,
            interval=0.3,
            what=lambda: f"adk web listening:\n{log.read_text()}",
            ignoring=(httpx.TransportError,),
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def artifact(url: str, app: str, user: str, session_id: str, filename: str) -> tuple[str, bytes]:
    """The MIME type and bytes of an artifact's latest version, from ADK's REST API (what the Artifacts tab reads)."""
    response = httpx.get(f"{url}/apps/{app}/users/{user}/sessions/{session_id}/artifacts/{filename}", timeout=10)
    assert response.status_code == 200, response.text
    blob = response.json()["inlineData"]
    # pydantic's base64url, without padding.
    data: str = blob["data"]
    return blob["mimeType"], base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
