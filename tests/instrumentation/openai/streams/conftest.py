"""Stream tests share one fake server per module (fast), and the open-span and context-detach guards."""

from tests.instrumentation.openai._stream_helpers import (  # noqa: F401 - fixtures, found by pytest by name
    aclient,
    client,
    fake,
    frozen,
    frozen_heap,
    guard,
    shared_fake,
)
