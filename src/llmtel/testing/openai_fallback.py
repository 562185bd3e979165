"""An ``openai`` client for examples and notebooks: the real API when a key is set, else `FakeOpenAI`.

    with openai_client_or_fake(ChatReply("Paris.")) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])

With ``OPENAI_API_KEY`` in the environment the client is ``openai.OpenAI(**client_options)`` and the scripted
replies are ignored; without it, a `FakeOpenAI` server starts on loopback, answers ``replies`` in order (then
its deterministic defaults), and stops when the block ends.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Literal, overload

from llmtel.testing.fake_openai import FakeOpenAI, Reply

if TYPE_CHECKING:
    import openai

__all__ = ["FAKE_API_KEY", "openai_client_or_fake"]

#: The key a client of the fake server is given (the fake accepts any key; this one is obviously not real).
FAKE_API_KEY = "sk-fake-llmtel-not-a-real-key"


@overload
def openai_client_or_fake(
    *replies: Reply, async_client: Literal[False] = False, quiet: bool = False, **client_options: Any
) -> AbstractContextManager[openai.OpenAI]: ...


@overload
def openai_client_or_fake(
    *replies: Reply, async_client: Literal[True], quiet: bool = False, **client_options: Any
) -> AbstractContextManager[openai.AsyncOpenAI]: ...


def openai_client_or_fake(
    *replies: Reply, async_client: bool = False, quiet: bool = False, **client_options: Any
) -> AbstractContextManager[Any]:
    """Yield a real ``openai`` client if ``OPENAI_API_KEY`` is set, else one talking to a started `FakeOpenAI`.

    ``replies`` script the fake (ignored against the real API); ``async_client`` yields ``AsyncOpenAI``;
    ``client_options`` go to the client's constructor either way. Unless ``quiet``, one line on stderr says
    which server is used, so a run against the fake is never mistaken for a real one.
    """
    return _client(replies, async_client, quiet, client_options)


@contextmanager
def _client(
    replies: tuple[Reply, ...], async_client: bool, quiet: bool, client_options: dict[str, Any]
) -> Iterator[Any]:
    import openai

    client_class = openai.AsyncOpenAI if async_client else openai.OpenAI
    if os.environ.get("OPENAI_API_KEY"):
        yield client_class(**client_options)
        return
    with FakeOpenAI() as fake:
        for reply in replies:
            fake.enqueue(reply)
        if not quiet:
            print(f"llmtel: OPENAI_API_KEY is not set; using the fake OpenAI server at {fake.base_url}",
                  file=sys.stderr)
        yield client_class(**{"api_key": FAKE_API_KEY, **client_options, "base_url": fake.base_url})
