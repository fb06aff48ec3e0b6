"""promtool's backfill of OpenMetrics text, as `sre scenario load` could use it: the blocks' meta.json."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from support.backends import PROMTOOL_BINARY

__all__ = ["backfilled_blocks"]


def backfilled_blocks(text: str, workdir: Path) -> list[dict[str, Any]]:
    """`text` backfilled into TSDB blocks under `workdir`; each block's meta.json (the test fails if promtool does)."""
    history = workdir / "history.om"
    history.write_text(text)
    data = workdir / "data"
    result = subprocess.run(
        [PROMTOOL_BINARY, "tsdb", "create-blocks-from", "openmetrics", str(history), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(meta.read_text()) for meta in data.glob("*/meta.json")]
