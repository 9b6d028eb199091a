"""The URLs of a server listening on a loopback port, shared by the interop suite's `DemoServer` and the cluster
suite's `Endpoint` (a replica or nginx)."""

from __future__ import annotations


class LoopbackServer:
    """`base_url` (`http://127.0.0.1:PORT`) and `url` (its `/mcp` endpoint) of anything with a `port`."""

    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/mcp"
