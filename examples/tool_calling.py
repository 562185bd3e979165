"""Tool calling: an agent loop. The model asks for a tool, the app runs it inside ``llmtel.tool`` (an
``execute_tool`` span, as the GenAI conventions name it, tied to the model's call by its id) and sends the
result back until the model answers. The loop runs inside ``llmtel.agent`` (an ``invoke_agent`` span that sums
up the calls and tool runs made inside it: tokens, count, cost), and the whole conversation is one trace under
one ``llmtel.run``. Content capture is on here, so the spans also carry the messages, the agent's question and
answer, and the tool's arguments and result (redacted and bounded).

    python examples/tool_calling.py
"""

import json

import llmtel
from llmtel.testing import ChatReply, ToolCall, openai_client_or_fake

llmtel.instrument(service_name="tool-calling-example", capture_content=True)  # content is opt-in


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
question = "What's the weather in Paris today?"
with llmtel.run("weather-agent"), openai_client_or_fake(*scripted) as client:
    with llmtel.agent("weather", model="gpt-4o-mini", input=question) as agent:
        messages = [{"role": "user", "content": question}]
        for _turn in range(5):  # an agent loop needs a bound
            completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOL_SPECS)
            message = completion.choices[0].message
            if not message.tool_calls:
                break
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls:
                with llmtel.tool(call.function.name, call_id=call.id, arguments=call.function.arguments) as run:
                    result = TOOLS[call.function.name](**json.loads(call.function.arguments))
                    run.set_result(result)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})
        agent.set_output(message.content)
    print(message.content)
