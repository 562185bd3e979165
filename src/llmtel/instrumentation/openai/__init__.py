"""OpenAI instrumentation: every chat, Responses, embeddings and legacy-completions call of the ``openai``
client (sync and async, OpenAI and AzureOpenAI, any OpenAI-compatible ``base_url``) becomes a GenAI span,
with tokens, cost, finish reasons, errors and time to first chunk, plus the GenAI metrics.

Entry-point name: ``llmtel_openai`` (chosen so it cannot collide with other packages' ``openai``).
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from llmtel.config import resolve_genai_settings
from llmtel.cost import PriceBook
from llmtel.credentials import mask_environment_secrets
from llmtel.genai.content import default_redactor, policy_from_settings, use_policy
from llmtel.genai.debug import DebugView, use_debug_view
from llmtel.genai.emit import GenAITelemetry
from llmtel.instrumentation.openai.streams import CLOSING_CLASSES, chunk_error_hook, close_hooks
from llmtel.instrumentation.openai.wrappers import OpenAIHooks
from llmtel.instrumentation.patching import patch_method, unpatch_method

_TARGETS = (("SyncAPIClient", "sync_request"), ("AsyncAPIClient", "async_request"))  # in ``openai._base_client``


def _closing_classes() -> list[tuple[type, bool, Any]]:
    """The stream and stream-helper classes this SDK has, with how to reach each one's stream."""
    found = []
    for module_name, class_name, is_async, stream_of in CLOSING_CLASSES:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):  # an older SDK without this helper
            continue
        if isinstance(cls, type) and callable(getattr(cls, "close", None)):
            found.append((cls, is_async, stream_of))
    return found


def _helper_states() -> list[tuple[type, str]]:
    """The ``.stream()`` helpers' state classes and their per-item handler (chat ``handle_chunk``, Responses
    ``handle_event``), which may raise on an item (see ``streams.chunk_error_hook``); those of an SDK without them
    are left out."""
    found = []
    for module_name, class_name, method in (
        ("openai.lib.streaming.chat._completions", "ChatCompletionStreamState", "handle_chunk"),
        ("openai.lib.streaming.responses._responses", "ResponseStreamState", "handle_event"),
    ):
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        if isinstance(cls, type) and callable(getattr(cls, method, None)):
            found.append((cls, method))
    return found


class OpenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instrument the ``openai`` package. ``instrument()`` keywords override the environment:

    ``capture_content`` (bool or a mode name), ``content_max_length``, ``content_fields`` (what of the content is
    exported: ``all``, ``none`` or some of ``llmtel.genai.content.CONTENT_FIELDS``), ``redactor`` (callable over
    each captured text, run after secrets are masked; or None to disable redaction), ``stream_usage`` (``"off"``
    or ``"inject"``), ``chunk_timing`` (bool: the ``time_per_output_chunk`` metric, one point per streamed
    chunk), ``prices`` (overrides, see ``llmtel.cost``), ``semconv_opt_in`` (as ``OTEL_SEMCONV_STABILITY_OPT_IN``:
    ``"gen_ai_latest_experimental"`` names the metrics as the newest conventions do), and the usual ``tracer_provider`` / ``meter_provider`` /
    ``logger_provider``.
    """

    hooks: OpenAIHooks | None = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.26",)

    def _instrument(self, **kwargs: Any) -> None:
        settings = resolve_genai_settings(
            capture_content=kwargs.get("capture_content"),
            content_max_length=kwargs.get("content_max_length"),
            redact_content=None if "redactor" not in kwargs else kwargs["redactor"] is not None,
            stream_usage=kwargs.get("stream_usage"),
            chunk_timing=kwargs.get("chunk_timing"),
            content_fields=kwargs.get("content_fields"),
            semconv_opt_in=kwargs.get("semconv_opt_in"),
        )
        policy = policy_from_settings(settings, kwargs.get("redactor", default_redactor))
        mask_environment_secrets()  # its keys, masked by value in whatever a failed call's server echoes
        prices: Mapping[str, Any] | None = kwargs.get("prices")
        price_book = PriceBook(prices)
        debug_view = DebugView() if settings.debug else None  # decided once here
        telemetry = GenAITelemetry(
            tracer_provider=kwargs.get("tracer_provider"),
            meter_provider=kwargs.get("meter_provider"),
            logger_provider=kwargs.get("logger_provider"),
            content=policy,
            prices=price_book,
            on_finish=kwargs.get("on_finish"),
            debug_view=debug_view,
            latest_metrics=settings.latest_metrics,
        )
        hooks = OpenAIHooks(
            telemetry, inject_stream_usage=settings.stream_usage == "inject", chunk_timing=settings.chunk_timing
        )
        import openai._base_client as base_client

        for cls_name, method in _TARGETS:
            patch_method(getattr(base_client, cls_name), "request", getattr(hooks, method))
        for cls, is_async, stream_of in _closing_classes():
            patch_method(cls, "close", close_hooks(stream_of)[is_async])
        for helper_state, method in _helper_states():
            patch_method(helper_state, method, chunk_error_hook())
        type(self).hooks = hooks
        use_policy(policy)  # tool spans (``llmtel.tool``) capture content as the calls do
        use_debug_view(debug_view)  # and tool runs and agents print to the debug view as the calls do

    def _uninstrument(self, **kwargs: Any) -> None:
        import openai._base_client as base_client

        for cls_name, _ in _TARGETS:
            unpatch_method(getattr(base_client, cls_name), "request")
        for cls, _, _ in _closing_classes():
            unpatch_method(cls, "close")
        for helper_state, method in _helper_states():
            unpatch_method(helper_state, method)
        type(self).hooks = None
        use_policy(None)
        use_debug_view(None)


__all__ = ["OpenAIInstrumentor"]
