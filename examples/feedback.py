"""Feedback after the answer: the app returns the answer with its feedback target (the ids of the LLM call
that produced it); when the user's thumbs-up comes back — in a later request, maybe in another process —
``llmtel.record_feedback`` attaches it to that call's span as a ``gen_ai.evaluation.result`` event.

    python examples/feedback.py
"""

import llmtel
from llmtel.testing import ChatReply, openai_client_or_fake

llmtel.instrument(service_name="feedback-example")


def handle_question(client, question: str) -> dict:
    """What a chat endpoint returns: the answer, and the ids the UI sends back with the user's feedback."""
    with llmtel.run("support-chat", session_id="session-7"):
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return {"answer": reply.choices[0].message.content, "feedback_ids": llmtel.feedback_target().as_dict()}


def handle_feedback(feedback_ids: dict, thumbs_up: bool, comment: str) -> None:
    """The feedback endpoint, called later with what the UI received."""
    llmtel.record_feedback(score=1.0 if thumbs_up else 0.0, label="thumbs_up" if thumbs_up else "thumbs_down",
                           comment=comment, **feedback_ids)


with openai_client_or_fake(ChatReply("Open Settings, then Security, then Reset password.")) as client:
    response = handle_question(client, "How do I reset my password?")
print(response["answer"])

# ... the user reads the answer and clicks thumbs-up
handle_feedback(response["feedback_ids"], thumbs_up=True, comment="Clear and quick.")
