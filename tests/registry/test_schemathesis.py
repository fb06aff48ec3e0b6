"""Property-based API tests: schemathesis generates requests from the registry's own /openapi.json.

Runs against `sre serve registry` on 127.0.0.1 with a token that may read and write, so every
operation is reached past authentication. Checks: no 5xx, only documented status codes, and
responses that match their documented schema. Bounded (examples per operation, no shrinking
deadline) to stay well under a minute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from support.issuer import TestIssuer
from support.openapi_conformance import check_conformance
from support.served import ServedComponent

from registry.openapi import OPERATIONS

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def fuzzed_registry(serve_registry: Callable[..., ServedComponent]) -> Iterator[ServedComponent]:
    # A rate high enough never to answer 429, and no health probes of the generated URLs.
    settings_env = {"SRE_REQUESTS_PER_SECOND": "100000", "REGISTRY_HEALTH_INTERVAL_SECONDS": "3600"}
    with serve_registry(**settings_env) as component:
        yield component


@pytest.fixture(scope="module")
def registry_schema(fuzzed_registry: ServedComponent) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed_registry.url}/openapi.json", timeout=10)


@pytest.fixture(scope="module")
def auth_headers(issuer: TestIssuer, fuzzed_registry: ServedComponent) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(fuzzed_registry.url, ['registry:write'], lifetime=900)}"}


@pytest.mark.parametrize(("method", "path"), [(op.method.upper(), op.path) for op in OPERATIONS])
def test_registry_api_conforms_to_its_openapi_document(
    registry_schema: schemathesis.BaseSchema, auth_headers: dict[str, str], method: str, path: str
) -> None:
    check_conformance(registry_schema, method, path, auth_headers, max_examples=MAX_EXAMPLES)
