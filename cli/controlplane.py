"""`sre controlplane approvals|approve|reject`: the human side of the approval loop.

A write tool of controlplane-mcp, called without an approval, requests one and stops. Someone
other than the requester then looks at it and decides here, with the `approver` client that
`make up` provisioned (scope controlplane:admin; the `cli` client that calls tools has none, so
nobody approves their own request by accident), against CONTROLPLANE_URL (default 127.0.0.1:8710).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from common.errors import InputError, SreError
from common.http import create_http_client
from common.settings import SettingsSource

__all__ = ["add_controlplane_parser", "run_controlplane"]

DEFAULT_URL = "http://127.0.0.1:8710"


def add_controlplane_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "controlplane",
        help="list, approve or reject the approvals write actions wait for",
        description="Decide on approval requests of the control plane (as the `cli` client of `make up`).",
    )
    actions = parser.add_subparsers(dest="controlplane_command", required=True, metavar="ACTION")
    listing = actions.add_parser("approvals", help="list approvals (pending ones by default)")
    listing.add_argument("--status", default="pending", help="pending, approved, rejected, consumed or expired")
    for verb in ("approve", "reject"):
        decide = actions.add_parser(verb, help=f"{verb} a pending approval")
        decide.add_argument("approval_id", metavar="ID")
        decide.add_argument("--reason", default="", help="why (kept in the audit log)")
    parser.add_argument("--client", default="approver", help="client whose secret `make up` keeps (default: approver)")


def run_controlplane(args: argparse.Namespace, source: SettingsSource) -> int:
    from cli.auth import client_token
    from registry.settings import RegistrySettings

    url = str(source.get("CONTROLPLANE_URL") or DEFAULT_URL).rstrip("/")
    try:
        token = client_token(RegistrySettings.from_source(source), args.client, url)
        if args.controlplane_command == "approvals":
            answer = _request("GET", f"{url}/api/v1/approvals", token, params={"status": args.status})
            for approval in answer.get("items", []):
                print(_line(approval))
            if not answer.get("items"):
                print(f"No {args.status} approvals.")
            return 0
        verb = args.controlplane_command
        approval = _request(
            "POST", f"{url}/api/v1/approvals/{args.approval_id}/{verb}", token, body={"reason": args.reason}
        )
        print(_line(approval))
        return 0
    except SreError as exc:
        print(f"sre controlplane: {exc}", file=sys.stderr)
        return 1


def _request(method: str, url: str, token: str, *, params: Any = None, body: Any = None) -> Any:
    import anyio

    async def send() -> httpx.Response:
        async with create_http_client(timeout=10.0, attempts=1) as http:
            return await http.request(
                method, url, params=params, json=body, headers={"Authorization": f"Bearer {token}"}
            )

    try:
        response = anyio.run(send)
    except httpx.TransportError as exc:
        raise InputError(
            f"The control plane at {url} could not be reached ({type(exc).__name__}); is it running?"
        ) from None
    try:
        data = response.json()
    except json.JSONDecodeError:
        data = {}
    if response.status_code >= 400:
        described = data.get("error_description") if isinstance(data, dict) else None
        raise InputError(f"HTTP {response.status_code}: {described or response.text[:300]}")
    return data


def _line(approval: dict[str, Any]) -> str:
    arguments = json.dumps(approval.get("arguments", {}), sort_keys=True)
    who = approval.get("requester", "?") + (f" for {approval['on_behalf_of']}" if approval.get("on_behalf_of") else "")
    return (
        f"{approval.get('id')}  {approval.get('status'):9} {approval.get('action')} {approval.get('target')} "
        f"{arguments}  by {who}, expires {approval.get('expires_at')}  {approval.get('reason', '')}"
    ).rstrip()
