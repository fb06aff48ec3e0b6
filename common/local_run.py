"""What `sre up` leaves in `SRE_DATA_DIR` for the processes run beside it on the same machine.

- `credentials/<client>.secret`: each OAuth client's secret (owner-only), the client id being
  the file's name (`cli.provisioning` writes them);
- `endpoints.json`: the URL of each component `sre up` started (`{"registry": "http://..."}`),
  since `SRE_UP_<NAME>_PORT` can move any of them.

With both, `adk web agents` run from the same checkout gives each agent the identity `sre up`
provisioned for it, at the registry that issued it, with no variable set
(`common.agents.identity`). A real deployment hands each component its secret through its own
secret store and has neither file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENDPOINTS_FILE", "read_endpoints", "read_secret", "secret_file", "write_endpoints"]

ENDPOINTS_FILE = "endpoints.json"


def secret_file(data_dir: Path, client: str) -> Path:
    return data_dir / "credentials" / f"{client}.secret"


def read_secret(data_dir: Path, client: str) -> str | None:
    path = secret_file(data_dir, client)
    return path.read_text().strip() if path.exists() else None


def write_endpoints(data_dir: Path, urls: Mapping[str, str]) -> None:
    (data_dir / ENDPOINTS_FILE).write_text(json.dumps(dict(urls), indent=2) + "\n")


def read_endpoints(data_dir: Path) -> dict[str, str]:
    """The URLs `sre up` recorded; empty when it never ran with this data directory (or wrote nonsense)."""
    try:
        value = json.loads((data_dir / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(name): url for name, url in value.items() if isinstance(url, str)}
