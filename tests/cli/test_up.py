"""`sre up`'s Alertmanager configuration. The running platform, its demo and Ctrl-C are tested end to end
in tests/integration/test_triage.py, which shares one `sre up` among its tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from cli.up import alertmanager_config


def test_alertmanager_config_passes_amtool_and_sends_every_alert_to_the_router_with_a_token(tmp_path: Path) -> None:
    assert shutil.which("amtool"), "amtool comes with prometheus-alertmanager, which `make test` installs"
    secret = tmp_path / "alertmanager.secret"
    secret.write_text("s3cret")
    config = alertmanager_config("http://127.0.0.1:8720", "http://127.0.0.1:8700", secret)
    path = tmp_path / "alertmanager.yml"
    path.write_text(json.dumps(config))
    checked = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert config["route"]["group_by"] == ["service", "namespace"]
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:8720/webhooks/alertmanager"
    assert webhook["http_config"]["oauth2"] == {
        "client_id": "alertmanager",
        "client_secret_file": str(secret),
        "token_url": "http://127.0.0.1:8700/oauth/token",
        "scopes": ["agents:invoke"],
        "endpoint_params": {"resource": "http://127.0.0.1:8720"},
    }
