"""The viewer's web UI in a real browser (Chromium through Playwright) against the real `Viewer`.

An instrumented pipeline runs in a subprocess with the real ``openai`` client against `FakeOpenAI` and exports
over OTLP to the viewer: two runs, a tool call, one failing model call, log lines, content capture on. The
tests then drive the page: the list and its filters, the trace waterfall, span details with the conversation,
and the logs. Screenshots go to ``$LLMTEL_ARTIFACTS_DIR`` (default ``tests/artifacts/``).

Without Chromium the tests skip, unless ``LLMTEL_REQUIRE_BROWSER=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmtel.testing import ChatReply, ErrorReply, FakeOpenAI, ToolCall, Usage
from llmtel.viewer import Viewer
from tests.e2e.harness import clean_env

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package; .ci/run installs it
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("LLMTEL_ARTIFACTS_DIR") or Path(__file__).parents[1] / "artifacts")

QUESTION = "How many words are in 'logs carry the trace id'?"
ANSWER = "There are **5 words** in that text.\n<b>not bold</b> & <script>alert(1)</script>"
# Prices by response model, so cost is the same with or without genai-prices (it needs Python >= 3.11).
PRICES = {
    "gpt-4o-mini-2024-07-18": {"input": 0.15, "output": 0.6, "cache_read": 0.075},
    "gpt-4.1-nano-2025-04-14": {"input": 0.1, "output": 0.4},
}

PIPELINE = r'''
import json, logging, os
import openai
from opentelemetry import trace
import llmtel

handle = llmtel.instrument()
logging.getLogger().setLevel(logging.INFO)
log = logging.getLogger("app")
client = openai.OpenAI(base_url=os.environ["FAKE_BASE_URL"], api_key="sk-test-not-a-key", max_retries=0)
tracer = trace.get_tracer("app")
tools = [{"type": "function", "function": {"name": "word_count", "description": "Count the words of a text.",
          "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}}]

with llmtel.run("answer-question", run_id="run-ui-0001", session_id="sess-ui-42", user_id="u-7"):
    with llmtel.step("retrieve"):
        log.info("retrieved documents", extra={"documents": 3})
    with llmtel.step("call_model"):
        messages = [{"role": "system", "content": "Answer briefly. Use tools when counting."},
                    {"role": "user", "content": os.environ["QUESTION"]}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
        call = first.choices[0].message.tool_calls[0]
        with tracer.start_as_current_span(f"execute_tool {call.function.name}", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.function.name,
                "gen_ai.tool.call.id": call.id}):
            result = len(json.loads(call.function.arguments)["text"].split())
            log.info("tool ran", extra={"tool": call.function.name, "result": result})
        messages += [first.choices[0].message.model_dump(exclude_none=True),
                     {"role": "tool", "tool_call_id": call.id, "content": str(result)}]
        client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
        log.info("answer received")
    with llmtel.step("verify"):
        try:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Verify."}])
        except openai.APIError as exc:
            log.warning("verification failed: %s", type(exc).__name__)

with llmtel.run("summarize", run_id="run-ui-0002", session_id="sess-ui-43"), llmtel.agent("summarizer"):
    client.chat.completions.create(model="gpt-4.1-nano", messages=[{"role": "user", "content": "Summarize."}])
    log.info("summary done")

assert handle.shutdown(timeout=10), "telemetry was not flushed"
'''

# Run with content capture EVENT_ONLY: the messages travel on the inference-details event (a log record).
EVENTS_PIPELINE = r'''
import os
import openai
import llmtel

handle = llmtel.instrument()
client = openai.OpenAI(base_url=os.environ["FAKE_BASE_URL"], api_key="sk-test-not-a-key", max_retries=0)
with llmtel.run("event-only", run_id="run-ui-0003"):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hi."}])
assert handle.shutdown(timeout=10), "telemetry was not flushed"
'''


def _require_browser() -> Any:
    """The Playwright module; skips (or fails under LLMTEL_REQUIRE_BROWSER=1) when no browser can run."""
    reason = None
    try:
        from playwright import sync_api
    except ImportError:
        sync_api, reason = None, "playwright is not installed (pip install -e '.[dev]')"
    if reason is None and not os.access(CHROMIUM, os.X_OK):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("LLMTEL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"LLMTEL_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_api


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def sync_api() -> Any:
    """Playwright's sync API, once a browser is known to be available (checked before any set-up work)."""
    return _require_browser()


@pytest.fixture(scope="module")
def viewer(sync_api, tmp_path_factory) -> Iterator[Viewer]:
    """A viewer holding the telemetry of the pipeline above, sent over OTLP/HTTP from a subprocess."""
    work = tmp_path_factory.mktemp("ui")
    (work / "pipeline.py").write_text(PIPELINE)
    (work / "events_pipeline.py").write_text(EVENTS_PIPELINE)
    (work / "prices.json").write_text(json.dumps(PRICES))
    with Viewer() as viewer, FakeOpenAI() as fake:
        fake.enqueue(ChatReply(
            tool_calls=[ToolCall("call_ui_1", "word_count", json.dumps({"text": "logs carry the trace id"}))],
            finish_reason="tool_calls", model="gpt-4o-mini-2024-07-18", usage=Usage(420, 18, cached=256)))
        fake.enqueue(ChatReply(ANSWER, model="gpt-4o-mini-2024-07-18", usage=Usage(512, 24)))
        fake.enqueue(ErrorReply.rate_limited())
        fake.enqueue(ChatReply("A short summary.", model="gpt-4.1-nano-2025-04-14", usage=Usage(120, 12)))
        fake.enqueue(ChatReply("Hi!", model="gpt-4o-mini-2024-07-18", usage=Usage(5, 2)))
        env = clean_env(
            FAKE_BASE_URL=fake.base_url,
            QUESTION=QUESTION,
            OTEL_SERVICE_NAME="ui-test-pipeline",
            OTEL_EXPORTER_OTLP_ENDPOINT=viewer.otlp_http_endpoint,
            OTEL_METRICS_EXPORTER="none",
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true",
            LLMTEL_PRICES=str(work / "prices.json"),
        )
        for script, extra in (("pipeline.py", {}), ("events_pipeline.py", {
                "OTEL_SERVICE_NAME": "ui-test-events", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"})):
            run = subprocess.run([sys.executable, str(work / script)], env={**env, **extra}, capture_output=True,
                                 text=True, timeout=60)
            assert run.returncode == 0, run.stderr
        assert viewer.flush(10)
        listed = _get_json(f"{viewer.ui_url}/api/llmtel/traces")
        assert listed["total"] == 3, listed
        yield viewer


@pytest.fixture(scope="module")
def browser(sync_api) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


UNKNOWN_TRACE = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def page(browser) -> Iterator[Any]:
    """A fresh page; fails the test on an uncaught script error, a console error or a failed request."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="light", locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and not message.text.startswith(
        "Failed to load resource") and problems.append(f"console: {message.text}"))
    page.on("response", lambda response: response.status >= 400 and UNKNOWN_TRACE not in response.url
            and problems.append(f"HTTP {response.status} {response.url}"))
    yield page
    context.close()
    assert not problems, problems


def _trace(viewer: Viewer, root_name: str) -> dict[str, Any]:
    rows = _get_json(f"{viewer.ui_url}/api/llmtel/traces")["data"]
    return next(row for row in rows if row["rootName"] == root_name)


def _shot(page: Any, name: str, **kwargs: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ui-{name}.png"), **kwargs)


def test_list_shows_llm_columns_and_filters_by_model_errors_and_ids(viewer, page):
    from playwright.sync_api import expect

    page.goto(f"{viewer.ui_url}/")
    rows = page.locator("tr.trace-row")
    expect(rows).to_have_count(3)
    answer = rows.filter(has_text="answer-question")
    expect(answer.locator(".col-models")).to_have_text("gpt-4o-mini-2024-07-18", use_inner_text=True)
    expect(answer.locator(".col-tokens")).to_have_text("932 / 42")  # 420 + 512 in, 18 + 24 out
    expect(answer.locator(".col-cost")).to_have_text("$0.000146")  # (164·0.15 + 256·0.075 + 18·0.6 + 512·0.15 + 24·0.6) / 1e6
    expect(answer.locator(".col-status")).to_have_text(re.compile(r"^\d+ errors?$"))
    expect(answer.locator(".col-ids")).to_contain_text("run-ui-0001")
    expect(answer.locator(".col-ids")).to_contain_text("sess-ui-42")
    summary = rows.filter(has_text="summarize")
    expect(summary.locator(".col-models")).to_contain_text("gpt-4.1-nano")
    expect(summary.locator(".col-tokens")).to_have_text("120 / 12")
    expect(summary.locator(".col-cost")).to_have_text("$0.0000168")
    expect(summary.locator(".col-status")).to_have_text("OK")
    expect(page.locator(".scatter .dot")).to_have_count(3)
    expect(rows.first).to_contain_text("event-only")  # newest first
    _shot(page, "list")
    page.select_option("#filter-sort", "spans")
    expect(rows.first).to_contain_text("answer-question")
    expect(page).to_have_url(re.compile(r"\?sort=spans$"))
    page.select_option("#filter-sort", "")

    page.select_option("#filter-model", "gpt-4.1-nano-2025-04-14")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("summarize")
    expect(page).to_have_url(re.compile(r"\?model=gpt-4\.1-nano-2025-04-14$"))
    page.reload()  # the filter lives in the URL
    expect(page.locator("#filter-model")).to_have_value("gpt-4.1-nano-2025-04-14")
    expect(rows).to_have_count(1)
    _shot(page, "list-filtered-model")

    page.select_option("#filter-model", "")
    page.check("#filter-errors")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("answer-question")
    expect(page).to_have_url(re.compile(r"\?errors=true$"))

    page.uncheck("#filter-errors")
    page.fill("#filter-q", "sess-ui-43")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("summarize")
    expect(page).to_have_url(re.compile(r"q=sess-ui-43"))

    page.fill("#filter-q", "")
    page.fill("#filter-minDuration", "1h")
    expect(rows).to_have_count(0)
    expect(page.locator(".empty")).to_contain_text("No traces match")
    page.fill("#filter-minDuration", "1 parsec")
    expect(page.locator("#filter-minDuration")).to_have_class(re.compile(r"\binvalid\b"))
    expect(rows).to_have_count(3)  # an unusable value is not sent


def test_trace_view_waterfall_details_conversation_and_logs(viewer, page):
    from playwright.sync_api import expect

    summary = _trace(viewer, "answer-question")
    trace_id = summary["traceID"]
    page.goto(f"{viewer.ui_url}/")
    page.locator("tr.trace-row", has_text="answer-question").locator("a.trace-link").click()
    expect(page).to_have_url(f"{viewer.ui_url}/trace/{trace_id}")

    # header: the LLM totals
    expect(page.locator(".trace-title h1")).to_have_text("answer-question")
    lens = page.locator(".lens")
    expect(lens.locator(".lens-stat", has_text="LLM calls")).to_contain_text("3")
    expect(lens.locator(".lens-stat", has_text="Input tokens")).to_contain_text("932")
    expect(lens.locator(".lens-stat", has_text="Cost")).to_contain_text("$0.000146")

    # waterfall: every span, nested by parent, errors marked
    spans = page.locator(".span-row")
    expect(spans).to_have_count(summary["spanCount"])
    ops = [op.strip() for op in spans.locator(".op").all_inner_texts()]
    assert ops[:3] == ["answer-question", "step retrieve", "step call_model"], ops
    assert ops.count("chat gpt-4o-mini") == 3 and "execute_tool word_count" in ops and "step verify" in ops, ops
    levels = dict(zip(ops, spans.evaluate_all("rows => rows.map(r => r.getAttribute('aria-level'))")))
    assert levels["answer-question"] == "1" and levels["step verify"] == "2" and levels["chat gpt-4o-mini"] == "3"
    root_bar = spans.first.locator(".wf-bar")
    assert root_bar.evaluate("b => [b.style.left, b.style.width]") == ["0%", "max(100%, 2px)"]
    failed = spans.filter(has=page.locator(".err-icon"))
    assert "chat gpt-4o-mini" in [t.strip() for t in failed.locator(".op").all_inner_texts()]
    assert spans.filter(has_text="step verify").get_attribute("class").split().count("error") == 0
    # log records interleaved under their spans, in time order
    log_rows = page.locator(".log-row")
    expect(log_rows.filter(has_text="tool ran")).to_have_count(1)
    expect(log_rows.filter(has_text="verification failed: RateLimitError")).to_have_count(1)
    _shot(page, "trace")

    # "LLM only": the model calls, the tool execution and the spans above them; no HTTP or retrieval spans
    page.check("#toggle-llm")
    expect(spans).to_have_count(7)
    assert sorted(op.strip() for op in spans.locator(".op").all_inner_texts()) == sorted([
        "answer-question", "step call_model", "chat gpt-4o-mini", "execute_tool word_count", "chat gpt-4o-mini",
        "step verify", "chat gpt-4o-mini"])
    expect(page).to_have_url(re.compile(r"\?llm=only$"))
    page.uncheck("#toggle-llm")
    expect(spans).to_have_count(summary["spanCount"])

    # dragging across the time axis zooms into that range; "Reset zoom" undoes it
    lane = page.locator(".wf-header .wf-timeline").bounding_box()
    page.mouse.move(lane["x"] + lane["width"] * 0.5, lane["y"] + 5)
    page.mouse.down()
    page.mouse.move(lane["x"] + lane["width"] * 0.75, lane["y"] + 5, steps=4)
    page.mouse.up()
    expect(page.locator(".wf-header .tick").first).not_to_have_text("0")
    assert root_bar.evaluate("b => parseFloat(b.style.left)") == pytest.approx(-200, abs=2)  # 2 windows earlier
    page.click("button.zoom-reset")
    expect(page.locator(".wf-header .tick").first).to_have_text("0")

    # the second model call: grouped attributes and the conversation with the tool call and its result
    spans.filter(has_text="512 → 24 tok").click()
    details = page.locator("aside.details")
    expect(details.locator("h2")).to_have_text("chat gpt-4o-mini")
    expect(page).to_have_url(re.compile(r"\?span=[0-9a-f]{16}$"))

    def group(name: str) -> Any:
        return details.locator(f'details.section[data-section="{name}"]')

    expect(group("GenAI request").locator('tr[data-key="gen_ai.request.model"] td')).to_have_text("gpt-4o-mini")
    expect(group("GenAI response").locator('tr[data-key="gen_ai.response.model"] td')).to_have_text(
        "gpt-4o-mini-2024-07-18")
    expect(group("GenAI usage").locator('tr[data-key="gen_ai.usage.input_tokens"] td')).to_have_text("512")
    expect(group("GenAI cost").locator('tr[data-key="llmtel.cost.usd"]')).to_have_count(1)
    expect(group("HTTP").locator('tr[data-key="server.address"] td')).to_have_text("127.0.0.1")
    expect(group("Run").locator('tr[data-key="llmtel.run.id"] td a')).to_have_attribute("href", "/?q=run-ui-0001")
    expect(group("resource").locator('tr[data-key="telemetry.sdk.language"]')).to_have_count(1)
    expect(details.locator(".fact", has_text="Cost")).to_contain_text("$0.0000912")

    conversation = details.locator(".conversation")
    expect(conversation.locator(".msg.role-system")).to_contain_text("Answer briefly")
    expect(conversation.locator(".msg.role-user")).to_contain_text(QUESTION)
    tool_call = conversation.locator(".part.tool-call")
    expect(tool_call.locator(".tool-name")).to_have_text("word_count")
    expect(tool_call.locator(".tool-id")).to_have_text("call_ui_1")
    expect(tool_call.locator("pre")).to_contain_text('"text": "logs carry the trace id"')
    tool_result = conversation.locator(".part.tool-result")
    expect(tool_result.locator(".tool-name")).to_have_text("word_count")  # matched to its call by id
    expect(tool_result.locator("pre")).to_have_text("5")
    expect(conversation.locator(".tool-def .tool-name")).to_have_text("word_count")
    output = conversation.locator(".msg.output")
    expect(output.locator(".finish")).to_have_text("stop")
    expect(output.locator(".msg-text")).to_have_text(ANSWER)  # markup in content stays text
    assert conversation.locator("b, script").count() == 0
    page.set_viewport_size({"width": 1440, "height": 1700})
    _shot(page, "span-details", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 900})

    # "Next error" selects the failed model call
    page.click("button.error-jump")
    expect(details.locator("h2")).to_have_text("chat gpt-4o-mini")
    expect(details.locator(".error-card")).to_contain_text("RateLimitError")

    # a log record selects its span
    log_rows.filter(has_text="tool ran").click()
    expect(details.locator("h2")).to_have_text("execute_tool word_count")
    expect(details.locator('details.section[data-section="logs"]')).to_contain_text("tool ran")

    # the LLM calls tab: one row per model call, in time order
    page.click('.tab[data-tab="calls"]')
    calls = page.locator("tr.call-row")
    expect(calls).to_have_count(3)
    expect(calls.nth(0)).to_contain_text("gpt-4o-mini-2024-07-18")
    expect(calls.nth(0)).to_contain_text("256 cached")
    expect(calls.nth(0)).to_contain_text("$0.0000546")
    expect(calls.nth(0).locator(".finish")).to_have_text("tool_calls")
    expect(calls.nth(1).locator(".finish")).to_have_text("stop")
    expect(calls.nth(2).locator(".badge.error")).to_have_text("RateLimitError")
    expect(calls.nth(2)).to_contain_text("in verify")
    calls.nth(0).click()
    expect(details.locator(".conversation .part.tool-call .tool-name")).to_have_text("word_count")
    expect(page).to_have_url(re.compile(r"\?span=[0-9a-f]{16}&tab=calls$"))
    _shot(page, "llm-calls")

    # the logs tab: every record of the trace in time order; clicking one shows its span
    logs = _get_json(f"{viewer.ui_url}/api/llmtel/traces/{trace_id}/logs")["data"]
    page.click('.tab[data-tab="logs"]')
    lines = page.locator(".log-list.full .log-line")
    expect(lines).to_have_count(len(logs))
    # a record without a body (an event such as gen_ai.client.operation.exception) is shown by its name
    shown = [record["body"] if record["body"] is not None else f"event {record['eventName']}" for record in logs]
    assert lines.locator(".log-body").all_inner_texts() == shown
    assert "event gen_ai.client.operation.exception" in shown  # the failed call's exception event
    _shot(page, "logs")
    lines.filter(has_text="verification failed").click()
    expect(page.locator('.tab[data-tab="timeline"]')).to_have_attribute("aria-selected", "true")
    expect(details.locator("h2")).to_have_text("step verify")
    expect(page.locator(".span-row.selected .op")).to_have_text("step verify")


def test_deep_links_dark_theme_and_unknown_trace(viewer, browser, page):
    from playwright.sync_api import expect

    trace_id = _trace(viewer, "answer-question")["traceID"]
    jaeger = _get_json(f"{viewer.ui_url}/api/traces/{trace_id}")["data"][0]
    failed = next(s for s in jaeger["spans"] if s["operationName"].startswith("chat")
                  and any(t["key"] == "error" for t in s["tags"]))
    page.goto(f"{viewer.trace_url(trace_id)}?span={failed['spanID']}")
    details = page.locator("aside.details")
    expect(details.locator(".error-card")).to_contain_text("RateLimitError")
    expect(details.locator('details.section[data-section="Error"] tr[data-key="otel.status_code"] td')).to_have_text(
        "ERROR")
    expect(details.locator('details.section[data-section="events"]')).to_contain_text("exception")
    page.click("a.back")
    expect(page).to_have_url(f"{viewer.ui_url}/")
    expect(page.locator("tr.trace-row")).to_have_count(3)

    page.goto(f"{viewer.ui_url}/trace/{UNKNOWN_TRACE}")
    expect(page.locator(".empty-title")).to_have_text("Trace not found")

    dark = browser.new_context(viewport={"width": 1440, "height": 900}, color_scheme="dark")
    try:
        dark_page = dark.new_page()
        dark_page.goto(f"{viewer.trace_url(trace_id)}?span={failed['spanID']}")
        expect(dark_page.locator("aside.details")).to_be_visible()
        background = dark_page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(14, 17, 22)", background
        _shot(dark_page, "trace-dark")
        dark_page.click("#theme")  # auto -> light, whatever the system says
        expect(dark_page.locator("html")).to_have_attribute("data-theme", "light")
        assert dark_page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(245, 246, 248)"
    finally:
        dark.close()


def test_content_captured_as_events_shows_as_the_conversation(viewer, page):
    from playwright.sync_api import expect

    page.goto(viewer.trace_url(_trace(viewer, "event-only")["traceID"]))
    expect(page.locator(".log-row")).to_contain_text("event gen_ai.client.inference.operation.details")
    page.locator(".span-row.llm").click()
    details = page.locator("aside.details")
    expect(details.locator('tr[data-key="gen_ai.input.messages"]')).to_have_count(0)  # not on the span
    conversation = details.locator(".conversation")
    expect(conversation.locator(".msg.role-user")).to_contain_text("Say hi.")
    expect(conversation.locator(".msg.output .msg-text")).to_have_text("Hi!")


def test_an_agent_and_its_run_sum_up_their_calls_and_are_not_counted_as_calls(viewer, page):
    from playwright.sync_api import expect

    page.goto(viewer.trace_url(_trace(viewer, "summarize")["traceID"]))
    lens = page.locator(".lens")  # the agent's span repeats its call's tokens: counted once
    expect(lens.locator(".lens-stat", has_text="LLM calls")).to_contain_text("1")
    expect(lens.locator(".lens-stat", has_text="Input tokens")).to_contain_text("120")
    expect(page.locator(".span-row.llm")).to_have_count(1)
    expect(page.locator(".span-row", has_text="invoke_agent summarizer").locator(".wf-dur")).to_contain_text("Σ 1 call")


def test_conversation_renders_every_content_shape_as_text(viewer, page):
    """Truncation markers, string or object tool arguments, unknown part types and non-JSON content all show,
    and markup inside content never becomes elements."""
    page.goto(f"{viewer.ui_url}/")
    shown = page.evaluate("""async () => {
      const { renderConversation } = await import("/static/conversation.js");
      const el = renderConversation({
        "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "Be terse." }]),
        "gen_ai.input.messages": JSON.stringify([
          { role: "user", parts: [{ type: "text", content: "long question",
                                    truncated: { length: 9000, sha256: "0123456789abcdef" } }] },
          { role: "assistant", parts: [{ type: "tool_call", id: "c1", name: "lookup", arguments: '{"q": "x"}' }] },
          { role: "tool", parts: [{ type: "tool_call_response", id: "c1",
                                    response: { preview: "partial result", truncated: { length: 5000, sha256: "f" } } }] },
          { role: "user", parts: [{ type: "blob", modality: "image", mime_type: "image/png" },
                                  { type: "mystery", payload: "<img src=x onerror=alert(1)>" },
                                  { type: "text", content: "<script>alert(2)</script>" }] },
        ]),
        "gen_ai.output.messages": "not json <i>at all</i>",
      });
      document.body.append(el);
      const text = (selector) => [...el.querySelectorAll(selector)].map((node) => node.textContent);
      return {
        text: el.textContent,
        markup: el.querySelectorAll("img, i, script").length,
        notes: text(".truncated-note"),
        resultName: text(".tool-result .tool-name"),
        callArgs: text(".tool-call pre"),
        roles: text(".msg-head .role"),
      };
    }""")
    assert shown["markup"] == 0
    assert shown["notes"] == ["truncated · 9,000 chars in full · sha256 0123456789abcdef",
                              "truncated · 5,000 chars in full · sha256 f"]
    assert shown["resultName"] == ["lookup"]  # the result is matched to its call by id
    assert shown["callArgs"] == ['{\n  "q": "x"\n}']  # JSON text arguments are pretty-printed
    assert shown["roles"] == ["system instructions", "user", "assistant", "tool", "user"]
    for piece in ("Be terse.", "long question", "partial result", "image/png", "mystery",
                  "<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "not json <i>at all</i>"):
        assert piece in shown["text"], piece


def test_formatting(viewer, page):
    page.goto(f"{viewer.ui_url}/")
    shown = page.evaluate("""async () => {
      const f = await import("/static/format.js");
      return [f.formatDuration(850), f.formatDuration(12345), f.formatDuration(180000), f.formatDuration(2.5e6),
              f.formatDuration(125e6), f.formatCost(0.0001458), f.formatCost(0.0421), f.formatCost(0.3), f.formatCost(3.2711),
              f.formatCost(null), f.formatTokens(932), f.formatTokens(123456), f.parseDuration("1.5s"),
              f.parseDuration("250us"), f.parseDuration("100"), f.parseDuration("1h30m"), f.parseDuration("soon"),
              f.parseDuration("5 parsec")];
    }""")
    assert shown == ["850 µs", "12.3 ms", "180 ms", "2.5 s", "2m 5s", "$0.000146", "$0.0421", "$0.30", "$3.27", "—",
                     "932", "123k", 1500000, 250, 100000, 5400000000, None, None]
