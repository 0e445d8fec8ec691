"""Drive the app's MCP server (streamable HTTP at /gradio_api/mcp/) with the mcp Python client, from plain tests."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.types import CallToolResult, TextContent, Tool

T = TypeVar("T")
TIMEOUT = timedelta(seconds=120)


def _session(url: str, work: Callable[[ClientSession], Awaitable[T]]) -> T:
    async def run() -> T:
        async with (
            streamablehttp_client(f"{url.rstrip('/')}/gradio_api/mcp/") as (read, write, _),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session,
        ):
            await session.initialize()
            return await work(session)

    return asyncio.run(run())


def list_tools(url: str) -> list[Tool]:
    """Every tool the server lists."""

    async def work(session: ClientSession) -> list[Tool]:
        return list((await session.list_tools()).tools)

    return _session(url, work)


def call_tool(url: str, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """One tool call in its own session, as an agent makes it."""

    async def work(session: ClientSession) -> CallToolResult:
        return await session.call_tool(name, arguments, read_timeout_seconds=TIMEOUT)

    return _session(url, work)


def data_url(path: str | Path) -> str:
    """A photo as the base64 data URL an MCP client uploads it as."""
    kind = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return f"data:{kind};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def text(result: CallToolResult) -> str:
    """The text parts of a tool result, joined."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))
