"""Test helpers for llmtel users and llmtel's own tests: a fake OpenAI-compatible server on loopback.

``FakeOpenAI`` answers the real ``openai`` client like the real API (JSON bodies and SSE streams), with
deterministic default replies and per-test scripted ones (`ChatReply`, `ErrorReply`, ...).
``openai_client_or_fake`` gives examples the real API when ``OPENAI_API_KEY`` is set and the fake otherwise;
``capture_spans`` (and the pytest fixtures ``llmtel_spans`` / ``fake_openai``) capture spans in memory.
"""

from llmtel.testing.fake_openai import (
    CHAT_COMPLETIONS,
    COMPLETIONS,
    EMBEDDINGS,
    RESPONSES,
    RESPONSES_COMPACT,
    ChatReply,
    CompactionReply,
    CompletionReply,
    Delay,
    Disconnect,
    EmbeddingsReply,
    ErrorReply,
    FakeOpenAI,
    RawReply,
    RecordedRequest,
    Reply,
    ResponsesReply,
    StreamFault,
    ToolCall,
    Usage,
)
from llmtel.testing.openai_fallback import FAKE_API_KEY, openai_client_or_fake
from llmtel.testing.span_capture import SpanCapture, capture_spans

__all__ = [
    "CHAT_COMPLETIONS",
    "COMPLETIONS",
    "EMBEDDINGS",
    "FAKE_API_KEY",
    "RESPONSES",
    "RESPONSES_COMPACT",
    "ChatReply",
    "CompactionReply",
    "CompletionReply",
    "Delay",
    "Disconnect",
    "EmbeddingsReply",
    "ErrorReply",
    "FakeOpenAI",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ResponsesReply",
    "SpanCapture",
    "StreamFault",
    "ToolCall",
    "Usage",
    "capture_spans",
    "openai_client_or_fake",
]
