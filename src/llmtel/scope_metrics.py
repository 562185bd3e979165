"""The metric points a run, an agent invocation and a tool run record as they end.

Runs record llmtel's ``llmtel.run.duration`` and ``llmtel.run.cost`` and, when started in this process, the GenAI
conventions' ``gen_ai.invoke_workflow.duration``; agents ``gen_ai.invoke_agent.duration`` and the number of model
calls and tool runs each invocation made itself; tools ``gen_ai.execute_tool.duration``. Their attributes are the
app's names for its pipelines, agents and tools (few) and ``error.type``: low cardinality. Each point is recorded
while the span's context is current, so its exemplar opens the trace.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

from llmtel import semconv as sc
from llmtel._version import __version__
from llmtel.encodable import encodable_text


def error_type(exc: BaseException | None) -> str | None:
    """``error.type`` of a scope that raised ``exc``: the exception's class, as its span has it."""
    return None if exc is None else type(exc).__qualname__


def _named(attributes: dict[str, Any], key: str, value: str | None) -> None:
    if value is not None:
        attributes[key] = encodable_text(value)  # a name OTLP cannot carry would fail every export of its set


class ScopeMetrics:
    """The instruments of runs, agents and tools, made once per meter."""

    __slots__ = ("run_duration", "run_cost", "workflow_duration", "agent_duration", "agent_calls", "agent_tools",
                 "tool_duration")

    def __init__(self, meter: metrics.Meter) -> None:
        self.run_duration = meter.create_histogram(
            sc.METRIC_RUN_DURATION, unit="s", description="Duration of pipeline runs (llmtel.run)",
            explicit_bucket_boundaries_advisory=sc.RUN_DURATION_BUCKETS,
        )
        self.run_cost = meter.create_histogram(
            sc.METRIC_RUN_COST, unit="USD", description="Cost of the LLM calls of each pipeline run",
            explicit_bucket_boundaries_advisory=sc.RUN_COST_BUCKETS,
        )
        self.workflow_duration = meter.create_histogram(
            sc.METRIC_INVOKE_WORKFLOW_DURATION, unit="s", description="GenAI workflow duration (llmtel.run)",
            explicit_bucket_boundaries_advisory=sc.WORKFLOW_DURATION_BUCKETS,
        )
        self.agent_duration = meter.create_histogram(
            sc.METRIC_INVOKE_AGENT_DURATION, unit="s", description="Duration of one agent invocation (llmtel.agent)",
            explicit_bucket_boundaries_advisory=sc.AGENT_DURATION_BUCKETS,
        )
        self.agent_calls = meter.create_histogram(
            sc.METRIC_INVOKE_AGENT_INFERENCE_CALLS, unit="{inference_call}",
            description="Model calls one agent invocation made itself",
            explicit_bucket_boundaries_advisory=sc.CALL_COUNT_BUCKETS,
        )
        self.agent_tools = meter.create_histogram(
            sc.METRIC_INVOKE_AGENT_TOOL_CALLS, unit="{tool_call}",
            description="Tool runs one agent invocation made itself",
            explicit_bucket_boundaries_advisory=sc.CALL_COUNT_BUCKETS,
        )
        self.tool_duration = meter.create_histogram(
            sc.METRIC_EXECUTE_TOOL_DURATION, unit="s", description="Duration of one tool run (llmtel.tool)",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )

    def run(self, name: str, seconds: float, totals: dict[str, Any], exc: BaseException | None,
            workflow: bool = True) -> None:
        """A run ended after ``seconds``, with its span's ``totals`` (``CallTotals.attributes``): its duration, the
        cost of its calls when any was priced (with the cost's status), and, for a run started here rather than
        continued from another service (``workflow``), the conventions' workflow duration."""
        failed = error_type(exc)
        attributes: dict[str, Any] = {}
        _named(attributes, sc.LLMTEL_RUN_NAME, name)
        if failed is not None:
            attributes[sc.ERROR_TYPE] = failed
        self.run_duration.record(seconds, attributes)
        if workflow:
            named: dict[str, Any] = {}
            _named(named, sc.GEN_AI_WORKFLOW_NAME, name)
            if failed is not None:
                named[sc.ERROR_TYPE] = failed
            self.workflow_duration.record(seconds, named)
        usd = totals.get(sc.LLMTEL_RUN_COST_USD)
        if usd is not None:
            attributes[sc.LLMTEL_RUN_COST_STATUS] = totals[sc.LLMTEL_RUN_COST_STATUS]
            self.run_cost.record(usd, attributes)

    def agent(self, name: str | None, model: str | None, seconds: float, calls: int, tools: int,
              exc: BaseException | None) -> None:
        """An agent invocation ended after ``seconds``, having made ``calls`` model calls and ``tools`` tool runs
        itself: its duration (by name, configured model and error), and the two counts (by name)."""
        attributes: dict[str, Any] = {}
        _named(attributes, sc.GEN_AI_AGENT_NAME, name)
        self.agent_calls.record(calls, attributes)
        self.agent_tools.record(tools, attributes)
        _named(attributes, sc.GEN_AI_REQUEST_MODEL, model)
        failed = error_type(exc)
        if failed is not None:
            attributes[sc.ERROR_TYPE] = failed
        self.agent_duration.record(seconds, attributes)

    def tool(self, name: str, tool_type: str | None, agent: str | None, seconds: float,
             exc: BaseException | None) -> None:
        """A tool run ended after ``seconds``: by tool name and type, the agent that ran it, and error."""
        attributes: dict[str, Any] = {}
        _named(attributes, sc.GEN_AI_TOOL_NAME, name)
        _named(attributes, sc.GEN_AI_TOOL_TYPE, tool_type)
        _named(attributes, sc.GEN_AI_AGENT_NAME, agent)
        failed = error_type(exc)
        if failed is not None:
            attributes[sc.ERROR_TYPE] = failed
        self.tool_duration.record(seconds, attributes)


# Through the global meter provider's proxies: the instruments follow whichever provider is set, before or after.
try:
    recorder = ScopeMetrics(metrics.get_meter("llmtel.pipeline", __version__))
except Exception:  # noqa: BLE001 - an app's global provider that fails to make meters must not fail the import
    recorder = ScopeMetrics(metrics.NoOpMeter("llmtel.pipeline"))
