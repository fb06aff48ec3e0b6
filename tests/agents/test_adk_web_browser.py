"""`adk web agents` in a real headless browser, tried as a new user would after `make up`.

`sre up` runs the federation with a bundled scenario loaded; `adk web agents` runs from the checkout
with nothing but the same `SRE_DATA_DIR`, so triage must find the identity `sre up` provisioned for
it. Debian's chromium (scripts/system-deps), driven by Playwright, opens the dev UI, picks triage,
asks a plain question and looks at what a person sees: the stages, then the report as Markdown
(never a JSON dump), the JSON report in the Artifacts tab, and the investigation in the Traces tab.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright
from support.adk_web import adk_web, artifact
from support.federation import RunningFederation, running_federation

from common.agents.pipeline import PipelineAgent

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCENARIO = "checkout-bad-deploy-errors"
QUESTION = "why is checkout failing in prod?"
REPORT_ARTIFACT = PipelineAgent.artifact_name
#: An investigation takes a few seconds; the first one also opens the MCP sessions.
ANSWER_TIMEOUT_MS = 60_000


@dataclass
class Chat:
    page: Page
    url: str
    session_id: str


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFederation]:
    with running_federation(tmp_path_factory.mktemp("federation")) as running:
        running.sre("scenario", "load", SCENARIO, "--loki-mcp-url", running.url("LOKI_MCP"))
        yield running


@pytest.fixture(scope="module")
def chat(federation: RunningFederation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    # What a person's shell has after `make up`: SRE_DATA_DIR (here not the default `.sre`), and no
    # client, secret or registry URL; `sre up`'s own port choices stay its business.
    env = {key: value for key, value in federation.env.items() if not key.startswith("SRE_UP_")}
    with (
        adk_web(env, tmp_path_factory.mktemp("adk-web")) as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{url}/dev-ui/")
            page.get_by_role("button", name="Select an app").click()
            page.get_by_text("triage", exact=True).click()
            box = page.get_by_placeholder("Type a message...")
            box.fill(QUESTION)
            box.press("Enter")
            expect(report_heading(page)).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
            session_id = parse_qs(urlparse(page.url).query)["session"][0]
            yield Chat(page, url, session_id)
        finally:
            browser.close()


def report_heading(page: Page) -> Locator:
    return page.locator("app-event-row.bot markdown h1", has_text="Diagnostic report: checkout")


def bot_messages(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("app-event-row.bot .content-bubble").all_inner_texts()]


def test_the_chat_shows_the_stages_then_the_report_as_markdown_without_json(chat: Chat) -> None:
    messages = bot_messages(chat.page)

    assert messages[0].startswith("Scoping"), messages
    expect(chat.page.locator("app-event-row.bot markdown h2", has_text="Hypotheses")).to_be_visible()
    # The scenario's bad deploy is the first hypothesis of the rendered list.
    expect(chat.page.locator("app-event-row.bot markdown ol li").first).to_contain_text("deployment on checkout")
    for message in messages:
        assert not message.startswith(("{", "[")), message[:300]
        assert '"hypotheses"' not in message, message[:300]


def test_the_json_report_is_an_artifact_of_the_session(chat: Chat) -> None:
    chat.page.get_by_role("tab", name="Artifacts").click()

    expect(chat.page.get_by_text(REPORT_ARTIFACT, exact=True)).to_be_visible()
    mime_type, saved = artifact(chat.url, "triage", "user", chat.session_id, REPORT_ARTIFACT)
    assert mime_type == "application/json"
    report = json.loads(saved)
    assert report["scope"]["service"] == "checkout"
    assert report["degraded"] == []
    assert report["hypotheses"]


def test_the_traces_tab_shows_the_stages_and_tool_calls_under_the_invocation(chat: Chat) -> None:
    chat.page.get_by_text("Traces", exact=True).click()

    # Each span is a row of the invocation's trace tree, labelled with its name.
    expect(chat.page.get_by_text("triage.run", exact=True)).to_be_visible()
    expect(chat.page.get_by_text("triage.stage", exact=True).first).to_be_visible()
    expect(chat.page.get_by_text("call_tool controlplane_find_resource", exact=True).first).to_be_visible()
    spans = httpx.get(f"{chat.url}/dev/apps/triage/debug/trace/session/{chat.session_id}", timeout=10).json()
    names = {span["name"] for span in spans}
    assert {"triage.run", "triage.stage", "call_tool controlplane_find_resource"} <= names, sorted(names)
    (run,) = (span for span in spans if span["name"] == "triage.run")
    assert run["attributes"]["sre.outcome"] == "ok"
    tool_calls = [span for span in spans if span["name"].startswith("call_tool ")]
    assert all(span["trace_id"] == run["trace_id"] for span in tool_calls)
    assert all(span["attributes"]["sre.server"].endswith("-mcp") for span in tool_calls)
