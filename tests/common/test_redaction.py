from __future__ import annotations

import pytest

from common.redaction import redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdef0123456789", "abcdef0123456789"),
        ("auth=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl here", "eyJzdWIiOiJ4In0"),
        ("password=hunter2&user=bob", "hunter2"),
        ('{"client_secret": "s3cr3t-value"}', "s3cr3t-value"),
        ("dsn postgresql://app:pa55word@db:5432/app", "pa55word"),
        ("key AKIAABCDEFGHIJKLMNOP leaked", "AKIAABCDEFGHIJKLMNOP"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "MIIE"),
    ],
)
def test_secrets_are_replaced(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "[REDACTED]" in redact(text)


def test_ordinary_text_is_untouched() -> None:
    text = 'rate(http_requests_total{service="checkout"}[5m]) > 0.5 at 2026-11-21T10:00:00Z'
    assert redact(text) == text
