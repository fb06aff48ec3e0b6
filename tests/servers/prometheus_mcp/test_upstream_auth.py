"""prometheus-mcp presents TLS client certificates and basic auth to a Prometheus that demands them."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import bcrypt
import pytest
from support.backends import PrometheusProcess
from support.certificates import Pki, make_pki
from support.mcp_session import call, call_error, prometheus_session

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

USER, PASSWORD = "sre", "correct horse battery staple"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def guarded_prometheus(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[PrometheusProcess]:
    """Prometheus with HTTPS, required client certificates and basic auth (its --web.config.file)."""
    web_config = {
        "tls_server_config": {
            "cert_file": str(pki.server_cert),
            "key_file": str(pki.server_key),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(pki.ca),
        },
        "basic_auth_users": {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()},
    }
    trust = ssl.create_default_context(cafile=str(pki.ca))
    trust.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    options = {"verify": trust, "auth": (USER, PASSWORD)}
    with PrometheusProcess(
        tmp_path_factory.mktemp("guarded"), None, web_config=web_config, client_options=options
    ) as backend:
        yield backend


def tls_env(pki: Pki, **extra: str) -> dict[str, str]:
    return {
        "PROMETHEUS_MCP_CA_FILE": str(pki.ca),
        "PROMETHEUS_MCP_CERT_FILE": str(pki.client_cert),
        "PROMETHEUS_MCP_KEY_FILE": str(pki.client_key),
        "PROMETHEUS_MCP_USERNAME": USER,
        **extra,
    }


async def test_queries_with_a_client_certificate_and_basic_auth(
    guarded_prometheus: PrometheusProcess, pki: Pki
) -> None:
    assert guarded_prometheus.url.startswith("https://")
    async with prometheus_session(guarded_prometheus.url, **tls_env(pki, PROMETHEUS_MCP_PASSWORD=PASSWORD)) as client:
        result = await call(client, "prometheus_query", query="vector(5)")
    assert result["samples"][0]["value"] == 5.0


async def test_a_wrong_password_is_reported_as_refused_credentials(
    guarded_prometheus: PrometheusProcess, pki: Pki
) -> None:
    async with prometheus_session(guarded_prometheus.url, **tls_env(pki, PROMETHEUS_MCP_PASSWORD="wrong")) as client:
        message = await call_error(client, "prometheus_query", query="vector(5)")
    assert "refused our credentials (HTTP 401)" in message


async def test_an_untrusted_server_certificate_names_the_ca_setting(guarded_prometheus: PrometheusProcess) -> None:
    async with prometheus_session(guarded_prometheus.url) as client:
        message = await call_error(client, "prometheus_query", query="vector(5)")
    assert "could not be reached" in message
    assert "PROMETHEUS_MCP_CA_FILE" in message


async def test_without_a_client_certificate_the_handshake_fails_clearly(
    guarded_prometheus: PrometheusProcess, pki: Pki
) -> None:
    env = {"PROMETHEUS_MCP_CA_FILE": str(pki.ca), "PROMETHEUS_MCP_USERNAME": USER, "PROMETHEUS_MCP_PASSWORD": PASSWORD}
    # Under TLS 1.3 the refusal arrives during the handshake or as an alert right after it,
    # whichever the timing gives: both must read the same.
    for _ in range(5):
        async with prometheus_session(guarded_prometheus.url, **env) as client:
            message = await call_error(client, "prometheus_query", query="vector(5)")
        assert "could not be reached" in message
        assert "PROMETHEUS_MCP_CERT_FILE" in message
