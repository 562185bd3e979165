"""Test helpers for llmtel users and llmtel's own tests: a fake OpenAI-compatible server on loopback.

``FakeOpenAI`` answers the real ``openai`` client like the real API (JSON bodies and SSE streams), with
deterministic default replies and per-test scripted ones (`ChatReply`, `ErrorReply`, ...).
"""

from llmtel.testing.fake_openai import (
    CHAT_COMPLETIONS,
    COMPLETIONS,
    EMBEDDINGS,
    RESPONSES,
    ChatReply,
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

__all__ = [
    "CHAT_COMPLETIONS",
    "COMPLETIONS",
    "EMBEDDINGS",
    "RESPONSES",
    "ChatReply",
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
    "StreamFault",
    "ToolCall",
    "Usage",
]
