"""`openai_client_or_fake`: the fake server without a key, the environment's API with one."""

from __future__ import annotations

import asyncio

import pytest

openai = pytest.importorskip("openai")

from llmtel.testing import ChatReply, FakeOpenAI, openai_client_or_fake  # noqa: E402

MESSAGES = [{"role": "user", "content": "hi"}]


def test_without_a_key_a_fake_answers_the_scripted_replies_then_stops(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with openai_client_or_fake(ChatReply("first"), ChatReply("second"), max_retries=0) as client:
        assert isinstance(client, openai.OpenAI)
        answers = [client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES) for _ in range(3)]
        base_url = str(client.base_url)
    assert [a.choices[0].message.content for a in answers[:2]] == ["first", "second"]
    assert answers[2].choices[0].message.content  # then the fake's own default reply
    assert base_url.startswith("http://127.0.0.1:")
    assert f"using the fake OpenAI server at {base_url.rstrip('/')}" in capsys.readouterr().err
    with pytest.raises(openai.APIConnectionError):  # the fake stopped with the block
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_async_client_and_quiet(monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    async def ask(client):
        return await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    with openai_client_or_fake(ChatReply("async"), async_client=True, quiet=True) as client:
        assert isinstance(client, openai.AsyncOpenAI)
        assert asyncio.run(ask(client)).choices[0].message.content == "async"
    assert capsys.readouterr().err == ""


def test_with_a_key_the_client_is_configured_by_the_environment(monkeypatch, capsys):
    with FakeOpenAI(api_key="sk-from-env") as api:  # stands in for the real API
        monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        with openai_client_or_fake(ChatReply("scripted, ignored"), max_retries=0) as client:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert reply.choices[0].message.content != "scripted, ignored"
        assert len(api.requests) == 1 and api.last_request.headers["authorization"] == "Bearer sk-from-env"
    assert "fake" not in capsys.readouterr().err
