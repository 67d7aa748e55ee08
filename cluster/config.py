"""A cluster's shape, one value shared by the CLI, the scenario `Setup`, the manager and its
launchers."""

from __future__ import annotations

from dataclasses import dataclass, field

from occsim.node.member import REPLICATION_TIMEOUT
from occsim.transport.network import LinkConfig


@dataclass(frozen=True)
class ClusterConfig:
    """A cluster's shape. Defaults: 3 nodes from port 9200 on loopback, seed 0, profile 5,
    no network faults, no trace, replication timeout 10 s, a node failed after 3 missed pings
    0.25 s apart (each waiting 0.5 s), requests up to 100 MB."""

    nodes: int = 3
    port: int = 9200
    host: str = "127.0.0.1"
    seed: int = 0
    link: LinkConfig = field(default_factory=LinkConfig)
    es_compat: int = 5
    trace: bool = False
    replication_timeout: float = REPLICATION_TIMEOUT
    fd_interval: float = 0.25
    fd_timeout: float = 0.5
    fd_retries: int = 3
    max_content_length: int = 100 * 1024 * 1024  # http.max_content_length, bytes
    # counterfactual rules (simulation only, see cluster/schedule.py): "es" | "apply-all";
    # links "any" (they reorder) | "fifo"; and who orders deliveries: "seeded" | "ordered"
    replica_rule: str = "es"
    links: str = "any"
    scheduler: str = "seeded"

    @property
    def rules(self) -> dict:
        """What a run's trace header says beyond profile, nodes and seed: the rules and the
        scheduler, each only when it is not the default (so older traces stay as they were)."""
        rules = {"replica_rule": self.replica_rule, "links": self.links,
                 "scheduler": self.scheduler}
        return {k: v for k, v in rules.items() if v != ClusterConfig.__dataclass_fields__[k].default}

    @property
    def names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]
