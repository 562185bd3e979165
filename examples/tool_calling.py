"""Tool calling: an agent loop. The model asks for a tool, the app runs it (an ``execute_tool`` span, as the
GenAI conventions name it) and sends the result back until the model answers; the whole conversation is
one trace under one ``llmtel.run``.

    python examples/tool_calling.py
"""

import json

from opentelemetry import trace

import llmtel
from llmtel.testing import ChatReply, ToolCall, openai_client_or_fake

llmtel.instrument(service_name="tool-calling-example")
tracer = trace.get_tracer("weather-agent")


def get_weather(city: str) -> dict:
    """The tool: a stand-in for a real weather service."""
    return {"city": city, "forecast": "sunny", "celsius": 21}


TOOLS = {"get_weather": get_weather}
TOOL_SPECS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Today's weather for a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

scripted = [  # what the local fake answers: first a tool call, then the final answer
    ChatReply(tool_calls=[ToolCall("call_weather_1", "get_weather", '{"city": "Paris"}')]),
    ChatReply("It is sunny in Paris today, 21 °C."),
]
with llmtel.run("weather-agent"), openai_client_or_fake(*scripted) as client:
    messages = [{"role": "user", "content": "What's the weather in Paris today?"}]
    for _turn in range(5):  # an agent loop needs a bound
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOL_SPECS)
        message = completion.choices[0].message
        if not message.tool_calls:
            break
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": call.function.name,
                          "gen_ai.tool.call.id": call.id}
            with tracer.start_as_current_span(f"execute_tool {call.function.name}", attributes=attributes):
                result = TOOLS[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
    print(message.content)
