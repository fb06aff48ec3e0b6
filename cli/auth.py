"""`sre auth`: OAuth clients and signing keys of the registry's embedded authorization server.

Every command acts on the files under SRE_DATA_DIR (`clients.toml`, `keys/`), or, when the
registry keeps them in its database (`REGISTRY_AUTH_STORAGE`, `registry.auth_storage`), on its
tables; a running registry re-reads either on its own (the tables every
`REGISTRY_AUTH_REFRESH_SECONDS`): no restart is needed. Secrets are printed once, by `add-client`,
to stdout (and nowhere else); the files keep only their hashes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.errors import BackendError, InputError
from common.settings import SettingsSource

if TYPE_CHECKING:  # the registry is imported only when an auth command runs
    from common.auth import ClientCredentials
    from registry.keys import SigningKeys
    from registry.settings import RegistrySettings

__all__ = [
    "add_auth_parser",
    "client_credentials",
    "client_token",
    "run_auth",
]

_EPILOG = """\
examples:
  sre auth add-client triage --scopes metrics:read,logs:read,agents:invoke
  sre auth add-client triage --rotate-secret      a new secret, same scopes
  sre auth list-clients
  sre auth rotate-keys
"""


def add_auth_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = commands.add_parser(
        "auth",
        help="manage OAuth clients and signing keys of the registry's authorization server",
        description="Manage the OAuth clients and signing keys under SRE_DATA_DIR; a running registry picks up "
        "the changes without a restart.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = auth.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    add = actions.add_parser("add-client", help="register a client and print its secret (once)")
    add.add_argument("name", metavar="NAME", help="client id")
    add.add_argument("--scopes", help="comma-separated scopes, e.g. metrics:read,agents:invoke")
    add.add_argument("--rotate-secret", action="store_true", help="give an existing client a new secret")
    remove = actions.add_parser("remove-client", help="delete a client; its tokens live until they expire")
    remove.add_argument("name", metavar="NAME")
    actions.add_parser("list-clients", help="list clients and their scopes (never secrets)")
    actions.add_parser("rotate-keys", help="publish a new signing key, used after a delay; old keys kept")
    token = actions.add_parser(
        "token",
        help="print an access token for a resource (from a client `sre up` provisioned)",
        description="Get a client-credentials token from the running registry and print it, e.g. for "
        'MCP Inspector: --header "Authorization: Bearer $(sre auth token --audience URL)".',
    )
    token.add_argument("--audience", required=True, help="the resource's canonical URL, e.g. http://127.0.0.1:8701/mcp")
    token.add_argument("--scopes", help="comma-separated scopes (default: all of the client's)")
    token.add_argument("--client", default="cli", help="client whose secret `sre up` keeps (default: cli)")


def run_auth(args: argparse.Namespace, source: SettingsSource) -> int:
    from registry.auth_storage import admin_auth
    from registry.settings import RegistrySettings

    settings = RegistrySettings.from_source(source)
    try:
        if args.auth_command == "token":
            return _print_token(settings, args.client, args.audience, args.scopes.split(",") if args.scopes else [])
        keys, clients = admin_auth(settings)
        if args.auth_command == "add-client":
            scopes = args.scopes.split(",") if args.scopes is not None else None
            if scopes is None and not args.rotate_secret:
                raise InputError("Give the client's scopes with --scopes, e.g. --scopes metrics:read,agents:invoke.")
            secret = clients.add_client(args.name, scopes, rotate_secret=args.rotate_secret)
            client = clients.get(args.name)
            print(f"client_id: {args.name}")
            print(f"client_secret: {secret}")
            print(f"scopes: {' '.join(client.scopes) if client else ''}")
            print("Store the secret now: it is shown only this once.", file=sys.stderr)
        elif args.auth_command == "remove-client":
            clients.remove_client(args.name)
            print(f"Client {args.name} removed; tokens already issued stay valid until they expire.")
        elif args.auth_command == "list-clients":
            listed = clients.list_clients()
            width = max([len(c.name) for c in listed] + [4])
            print(f"{'NAME':{width}}  {'CREATED':20}  SCOPES")
            for client in listed:
                created = client.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                print(f"{client.name:{width}}  {created:20}  {' '.join(client.scopes)}")
        else:
            return _rotate_keys(keys)
    except (InputError, BackendError) as exc:
        print(f"sre auth: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_token(settings: RegistrySettings, client: str, audience: str, scopes: list[str]) -> int:
    print(client_token(settings, client, audience, scopes))
    return 0


def client_credentials(settings: RegistrySettings, client: str) -> ClientCredentials:
    """The credentials of a client whose secret `make up` keeps under SRE_DATA_DIR, at the registry."""
    from cli.provisioning import read_secret
    from common.auth import ClientCredentials

    secret = read_secret(settings.data_dir, client)
    if secret is None:
        raise InputError(f"No secret is kept for client {client!r} under {settings.data_dir}; run `make up` first.")
    return ClientCredentials.model_validate(
        {"token_url": f"{settings.serve.registry_url}/oauth/token", "client_id": client, "client_secret": secret}
    )


def client_token(settings: RegistrySettings, client: str, audience: str, scopes: Sequence[str] = ()) -> str:
    """A token for `audience` of a client whose secret `make up` keeps under SRE_DATA_DIR."""
    import anyio

    from common.auth import TokenSource
    from common.http import create_http_client

    credentials = client_credentials(settings, client)

    async def fetch() -> str:
        async with create_http_client(timeout=10.0) as http:
            return await TokenSource(credentials, http).token(audience, scopes)

    return anyio.run(fetch)


def _rotate_keys(keys: SigningKeys) -> int:
    new = keys.rotate()
    now = time.time()
    print(f"New signing key {new.kid} ({new.algorithm}) is published now.")
    print(f"It signs new tokens from {_iso(new.activates_at)} (in {max(0, round(new.activates_at - now))} s).")
    for key in keys.list_keys():
        if key.kid != new.kid and key.removed_at is not None:
            print(f"Key {key.kid} stays published until {_iso(key.removed_at)}, when its last tokens have expired.")
    return 0


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
