"""Retrieval pipeline: embed documents, retrieve the closest to a question, answer from it — one
``llmtel.run`` whose ``llmtel.step``s are spans, with the embeddings and chat calls inside them. structlog
events get the trace, span, run and step ids (printed as JSON) and are exported over OTLP as log records of
the span they were written in.

    python examples/rag_pipeline.py
"""

import math

import structlog

import llmtel
from llmtel.testing import ChatReply, openai_client_or_fake

llmtel.instrument(service_name="rag-example")
structlog.configure(
    processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        llmtel.structlog_context,  # trace_id, span_id, run_id, step on every event
        llmtel.structlog_otlp,  # and the event itself to OTLP, in its span
        structlog.processors.JSONRenderer(),
    ]
)
log = structlog.get_logger("rag")

DOCUMENTS = [
    "A span is one timed operation; a trace is the tree of spans of one request.",
    "Token counts and cost are attributes of the span of the model call.",
    "Logs written inside a span carry its trace id and span id.",
]
EMBEDDING_MODEL = "text-embedding-3-small"


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@llmtel.step("index")
def index(client, documents: list[str]) -> list[list[float]]:
    vectors = [d.embedding for d in client.embeddings.create(model=EMBEDDING_MODEL, input=documents).data]
    log.info("indexed documents", documents=len(documents), dimensions=len(vectors[0]))
    return vectors


@llmtel.step("retrieve")
def retrieve(client, question: str, vectors: list[list[float]], k: int = 2) -> list[str]:
    query = client.embeddings.create(model=EMBEDDING_MODEL, input=question).data[0].embedding
    ranked = sorted(range(len(vectors)), key=lambda i: cosine(query, vectors[i]), reverse=True)[:k]
    log.info("retrieved context", chosen=ranked)
    return [DOCUMENTS[i] for i in ranked]


@llmtel.step("answer")
def answer(client, question: str, context: list[str]) -> str:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Answer from this context only:\n" + "\n".join(context)},
            {"role": "user", "content": question},
        ],
    )
    log.info("answered", output_tokens=reply.usage.completion_tokens)
    return reply.choices[0].message.content


question = "Where do token counts go?"
with openai_client_or_fake(ChatReply("On the span of the model call.")) as client:  # real API with a key
    with llmtel.run("answer-question", session_id="docs-session"):
        vectors = index(client, DOCUMENTS)
        print(answer(client, question, retrieve(client, question, vectors)))
