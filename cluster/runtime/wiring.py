"""What a launcher is to the manager: the `Launcher` protocol that the real launcher
(`runtime.launch`) and the simulation's (`sim.launcher`) both keep, the `Host` they start nodes
for (the manager, as far as they see it), and the `Wiring` that `open` returns.

Neither the manager nor a launcher imports the other: the launcher hands its wiring back as a
value and the manager installs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from occsim.cluster.config import ClusterConfig
from occsim.transport.endpoint import Endpoint


@dataclass(frozen=True)
class Wiring:
    """The manager's address, its wire to the nodes, its sender of client requests, and the
    `master_node` entry of the cluster state."""

    address: str
    wire: Any
    sender: Any
    master_node: dict


class Host(Protocol):
    """What a launcher reads from the manager it starts nodes for."""

    config: ClusterConfig
    secret: str
    endpoint: Endpoint
    address: str
    wire: Any
    sender: Any
    ports: dict[str, int]
    incarnations: dict[str, int]
    address_of: Callable[[str], str | None]

    async def ask(self, node: str, kind: str, body: dict, *, timeout: float = ...) -> dict: ...


class Launcher(Protocol):
    """Starts nodes for the manager: real processes, or members of the simulation."""

    async def open(self, host: Host) -> Wiring: ...
    async def spawn(self, host: Host, name: str) -> Any: ...
    async def events(self, host: Host, name: str) -> bytes | list: ...
    async def close(self, host: Host) -> None: ...
