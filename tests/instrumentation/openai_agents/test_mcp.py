"""An MCP server's tools: ``execute_tool`` spans of type ``extension``, whether the call succeeds or fails."""

from __future__ import annotations

import asyncio
from typing import Any

import agents
from agents.mcp import MCPServer
from mcp.types import CallToolResult, GetPromptResult, ListPromptsResult, TextContent
from mcp.types import Tool as MCPTool
from opentelemetry.trace import StatusCode

from llmtel import semconv as sc
from llmtel.testing import ResponsesReply, ToolCall

ASKS_WEATHER = ResponsesReply(function_calls=[ToolCall("call_1", "weather", '{"city": "Oslo"}')])


class WeatherServer(MCPServer):
    """An MCP server in process with one tool, ``weather``: sunny, or, when ``down``, an error."""

    def __init__(self, down: bool = False) -> None:
        super().__init__(use_structured_content=False)
        self.down = down

    @property
    def name(self) -> str:
        return "weather-server"

    async def connect(self) -> None:
        pass

    async def cleanup(self) -> None:
        pass

    async def list_tools(self, run_context: Any = None, agent: Any = None) -> list[MCPTool]:
        schema = {"type": "object", "properties": {"city": {"type": "string"}}}
        return [MCPTool(name="weather", description="The weather in a city.", inputSchema=schema)]

    async def call_tool(self, tool_name: str, arguments: Any, meta: Any = None) -> CallToolResult:
        if self.down:
            raise ConnectionError("weather server unreachable")
        return CallToolResult(content=[TextContent(type="text", text="sunny")])

    async def list_prompts(self) -> ListPromptsResult:
        return ListPromptsResult(prompts=[])

    async def get_prompt(self, name: str, arguments: Any = None) -> GetPromptResult:
        raise NotImplementedError


def _ask(make_agent: Any, fake: Any, server: WeatherServer) -> Any:
    fake.enqueue(ASKS_WEATHER)
    fake.enqueue(ResponsesReply("Sunny in Oslo."))
    return asyncio.run(agents.Runner.run(make_agent(mcp_servers=[server]), "weather in Oslo?"))


def _tool_types(pipelines: Any) -> tuple[Any, Any]:
    """The tool span's ``gen_ai.tool.type`` and that of its duration metric point."""
    span = pipelines.span_named("execute_tool weather")
    [point] = pipelines.metric_points(sc.METRIC_EXECUTE_TOOL_DURATION)
    return span.attributes[sc.GEN_AI_TOOL_TYPE], point.attributes[sc.GEN_AI_TOOL_TYPE]


def test_an_mcp_servers_tool_is_an_extension_on_its_span_and_metric(pipelines, fake, make_agent):
    assert _ask(make_agent, fake, WeatherServer()).final_output == "Sunny in Oslo."
    assert _tool_types(pipelines) == ("extension", "extension")
    span = pipelines.span_named("execute_tool weather")
    assert (span.status.status_code, span.attributes[sc.GEN_AI_TOOL_CALL_ID]) == (StatusCode.UNSET, "call_1")


def test_an_mcp_tool_whose_call_fails_is_an_extension_too(pipelines, fake, make_agent):
    _ask(make_agent, fake, WeatherServer(down=True))  # the SDK hands the error to the model, the run goes on
    assert _tool_types(pipelines) == ("extension", "extension")
    span = pipelines.span_named("execute_tool weather")
    assert (span.status.status_code, span.attributes[sc.ERROR_TYPE]) == (StatusCode.ERROR, "AgentsSpanError")
