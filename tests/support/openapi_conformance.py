"""One OpenAPI operation of a served API checked by schemathesis with generated requests.

Checks: no 5xx, only documented status codes, responses that match their documented schema.
Bounded: `max_examples` per operation, no shrinking phase (a failure is reported as found), no
deadline, no example database. The Python API, not schemathesis' pytest plugin: its
fixture-based loader does not run on pytest 9.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

__all__ = ["check_conformance"]


def check_conformance(
    schema: schemathesis.BaseSchema, method: str, path: str, headers: dict[str, str], *, max_examples: int
) -> None:
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=max_examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=headers,
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            timeout=10,
        )

    conforms()
