"""OpenAI Agents SDK instrumentation (``openai-agents``): each run a workflow span, each agent an
``invoke_agent`` span, each tool an ``execute_tool`` span, guardrails and handoffs their own spans; the model
calls inside are the OpenAI instrumentation's, nested under the agent that made them, and a LiteLLM or any-llm
model's calls are their generation spans, recorded with the OpenAI instrumentation's telemetry (see ``spans``;
``models`` for what those models' methods add). A run that keeps sensitive data out of the SDK's traces keeps it
out of llmtel's too (``sensitive``).

Entry-point name: ``llmtel_openai_agents``. Off-switch: ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=llmtel_openai_agents``
(the SDK's own ``OPENAI_AGENTS_DISABLE_TRACING`` stops its export to OpenAI, not llmtel's spans).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection
from types import ModuleType
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from llmtel.instrumentation.on_import import when_imported
from llmtel.instrumentation.patching import patch_method, unpatch_method


def _hook(agents: ModuleType) -> None:
    """Put the hooks on the SDK's ``Scope`` (and its stand-in span's ``set_error``, the tool context's maker for
    the tool call's id, the MCP tools' call for their type, the streamed result's set-up for its failure, and the
    runner's two entry points for the run's privacy switch)."""
    from agents.result import RunResultStreaming
    from agents.run import AgentRunner
    from agents.tool_context import ToolContext
    from agents.tracing.scope import Scope
    from agents.tracing.spans import NoOpSpan

    from llmtel.instrumentation.openai_agents.scope import HOOKS, note_mcp_call, note_tool_call_id, record_error
    from llmtel.instrumentation.openai_agents.sensitive import run_streamed_withheld, run_withheld
    from llmtel.instrumentation.openai_agents.streamed import note_streamed_result

    for name, hook in HOOKS:
        patch_method(Scope, name, hook)
    patch_method(NoOpSpan, "set_error", record_error)
    patch_method(ToolContext, "from_agent_context", note_tool_call_id)
    patch_method(RunResultStreaming, "__post_init__", note_streamed_result)
    patch_method(AgentRunner, "run", run_withheld)
    patch_method(AgentRunner, "run_streamed", run_streamed_withheld)
    mcp_util = _mcp_util()
    if mcp_util is not None:
        patch_method(mcp_util, "invoke_mcp_tool", note_mcp_call)


# The SDK's models whose calls are their own spans (``generations``), by module and class: hooked (``models``) once
# the app imports them, as the SDK itself is.
MODELS = (
    ("agents.extensions.models.litellm_model", "LitellmModel"),
    ("agents.extensions.models.any_llm_model", "AnyLLMModel"),
)


def _model_hooker(class_name: str) -> Callable[[ModuleType], None]:
    """What hooks a model class's ``get_response`` and ``stream_response`` once its module is imported."""

    def hook(module: ModuleType) -> None:
        from llmtel.instrumentation.openai_agents.models import HOOKS

        model_class = getattr(module, class_name, None)
        if isinstance(model_class, type):
            for name, method_hook in HOOKS:
                patch_method(model_class, name, method_hook)

    return hook


def _unhook_models() -> None:
    """Take the hooks off the model classes whose modules were imported."""
    for module_name, class_name in MODELS:
        model_class = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(model_class, type):
            for name in ("get_response", "stream_response"):  # ``models.HOOKS``' methods
                unpatch_method(model_class, name)


def _mcp_util() -> type | None:
    """The SDK's ``MCPUtil`` (through which its MCP tools are called); None if its MCP support does not import."""
    try:
        from agents.mcp.util import MCPUtil
    except ImportError:
        return None
    return MCPUtil


class OpenAIAgentsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instrument the ``agents`` package of ``openai-agents``: at once if the app has imported it, else as it is
    first imported (it takes about two seconds to import: an app that has the SDK installed but does not use it
    never pays for it). Spans and metrics go to the global providers, as ``llmtel.run``, ``llmtel.agent`` and
    ``llmtel.tool`` do; content follows the active content policy."""

    _cancel: Callable[[], None] | None = None
    _cancel_models: tuple[Callable[[], None], ...] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai-agents >= 0.24",)

    def _instrument(self, **kwargs: Any) -> None:
        self._cancel = when_imported("agents", _hook)
        self._cancel_models = tuple(when_imported(module_name, _model_hooker(class_name))
                                    for module_name, class_name in MODELS)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._cancel is not None:
            self._cancel()  # still waiting for the import: it will not hook
            self._cancel = None
        for cancel in self._cancel_models:
            cancel()
        self._cancel_models = ()
        _unhook_models()
        if "agents.tracing.scope" not in sys.modules:
            return
        from agents.result import RunResultStreaming
        from agents.run import AgentRunner
        from agents.tool_context import ToolContext
        from agents.tracing.scope import Scope
        from agents.tracing.spans import NoOpSpan

        from llmtel.instrumentation.openai_agents.scope import HOOKS

        for name, _ in HOOKS:
            unpatch_method(Scope, name)
        unpatch_method(NoOpSpan, "set_error")
        unpatch_method(ToolContext, "from_agent_context")
        unpatch_method(RunResultStreaming, "__post_init__")
        unpatch_method(AgentRunner, "run")
        unpatch_method(AgentRunner, "run_streamed")
        mcp_util = _mcp_util()
        if mcp_util is not None:
            unpatch_method(mcp_util, "invoke_mcp_tool")


__all__ = ["OpenAIAgentsInstrumentor"]
