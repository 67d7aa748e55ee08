"""A cluster this program did not start (`occsim up`), reached through its manager's address
and secret: where its nodes listen, its fault and network levers, and the clean-up between
tests (holds released, partitions healed, paused nodes resumed, every index deleted)."""

from __future__ import annotations

import asyncio
import itertools
import urllib.request

from occsim.transport.message import Envelope
from occsim.transport.websocket import post_message
from occsim.cluster.errors import RemoteClusterError


class RemoteCluster:
    """The levers of a running cluster's manager, as plain calls."""

    def __init__(self, manager: str, secret: str) -> None:
        self.manager = manager.removeprefix("http://")
        self.secret = secret
        self._ids = itertools.count(1)

    def _tell(self, kind: str, body: dict) -> dict:
        envelope = Envelope(f"pytest:{next(self._ids)}", "pytest", "manager", kind, body)
        try:
            reply = asyncio.run(post_message(f"http://{self.manager}", self.secret, envelope))
        except Exception as exc:
            raise RemoteClusterError(f"cannot reach the occsim manager at {self.manager}: "
                                     f"{exc}") from exc
        if "error" in reply:
            raise RemoteClusterError(reply["error"]["reason"])
        return reply

    def status(self) -> dict:
        return self._tell("status", {})

    @property
    def urls(self) -> list[str]:
        return [f"http://{info['ip']}:{info['port']}"
                for info in self.status()["state"]["nodes"].values()]

    @property
    def url(self) -> str:
        return self.urls[0]

    def __str__(self) -> str:
        return self.url

    def kill(self, node: str) -> None:
        self._tell("fault", {"action": "kill", "target": node})

    def stop_node(self, node: str) -> None:
        self._tell("fault", {"action": "stop", "target": node})

    def restart(self, node: str) -> None:
        self._tell("fault", {"action": "restart", "target": node})

    def pause(self, node: str) -> None:
        self._tell("fault", {"action": "pause", "target": node})

    def resume(self, node: str) -> None:
        self._tell("fault", {"action": "resume", "target": node})

    def partition(self, side_a: list[str], side_b: list[str] | None = None, *,
                  one_way: bool = False) -> None:
        self._tell("partition", {"a": side_a, "b": side_b, "one_way": one_way})

    def heal(self) -> None:
        self._tell("heal", {})

    def hold(self, src: str, dst: str | None = None, *, kind: str = "replicate",
             limit: int | None = None, **match: object) -> str:
        reply = self._tell("control", {"target": src, "op": "hold", "rule": {
            "dst": dst, "kind": kind, "limit": limit, "match": match}})
        return f"{src}/{reply[src]['rule']}"

    def release(self, rule: str | None = None) -> None:
        if rule is None:
            self._tell("control", {"target": "*", "op": "release"})
        else:
            node, rule_id = rule.split("/")
            self._tell("control", {"target": node, "op": "release", "rule": rule_id})

    def begin_test(self) -> None:
        """Nothing to mark: this program does not see the running cluster's trace."""

    def repair(self) -> None:
        """Release holds, heal, resume paused nodes, delete every index (over HTTP, as a
        user would)."""
        self.release()
        self.heal()
        status = self.status()
        for node in status["paused"]:
            self.resume(node)
        for index in status["state"]["indices"]:
            request = urllib.request.Request(f"{self.url}/{index}", method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()
