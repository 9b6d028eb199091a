"""The Python peer of scripts/bench: the official MCP Python SDK (mcp 2.3.0) with one `echo` tool.

One Streamable HTTP app serves both eras, as the SDK builds it: requests with `MCP-Protocol-Version: 2026-07-28`
take its modern (stateless) path, and `initialize` plus `Mcp-Session-Id` its stateful legacy path. JSON responses
(`json_response=True`), like the Swift servers' quick tool calls. Served by uvicorn (uvloop + httptools), one
process, no access log.

Usage: python server.py PORT
"""

import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer("bench-python", version="1.0.0")


@server.tool()
def echo(text: str) -> str:
    """Returns the text it is given."""
    return text


app = server.streamable_http_app(json_response=True)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
