"""Property-based API tests: schemathesis generates requests from the control plane's own /openapi.json.

Runs against `sre serve controlplane` on 127.0.0.1 (SQLite) with a token holding every
control plane scope, so every operation is reached past authentication. Checks: no 5xx, only
documented status codes, responses that match their documented schema. Bounded (examples per
operation, no shrinking) to stay well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from support.controlplane_harness import ALL
from support.issuer import TestIssuer
from support.openapi_conformance import check_conformance
from support.served import ServedComponent

from controlplane.openapi import OPERATIONS

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def served(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    env = {
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
        "SRE_DATA_DIR": str(tmp_path_factory.mktemp("controlplane-fuzzed")),
        "SRE_REQUESTS_PER_SECOND": "100000",
    }
    with ServedComponent("controlplane", env, tmp_path_factory.mktemp("served")) as component:
        yield component


@pytest.fixture(scope="module")
def schema(served: ServedComponent) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json", timeout=10)


@pytest.fixture(scope="module")
def auth_headers(issuer: TestIssuer, served: ServedComponent) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(served.url, ALL, lifetime=900)}"}


@pytest.mark.parametrize(("method", "path"), [(op.method.upper(), op.path) for op in OPERATIONS])
def test_controlplane_api_conforms_to_its_openapi_document(
    schema: schemathesis.BaseSchema, auth_headers: dict[str, str], method: str, path: str
) -> None:
    check_conformance(schema, method, path, auth_headers, max_examples=MAX_EXAMPLES)
