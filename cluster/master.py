"""The elected master's decisions, as pure code: index metadata, shard allocation, primary terms.

`MasterState` owns the cluster state (a plain, msgpack-able dict) and changes it only through
its methods, each returning the new state. It never does I/O: the manager (or a single node, for
`occsim node`) publishes what it returns. Allocation keeps a primary and its replicas on
different nodes and balances copies across nodes.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

from occsim.node.errors import ElasticsearchError, IllegalArgument, IndexNotFound
from occsim.node.profiles import Profile
from occsim.node.rest import parse_time, validate_index_name

DEFAULT_GC_DELETES = 60.0
_KNOWN_SETTINGS = ("number_of_shards", "number_of_replicas", "gc_deletes", "refresh_interval",
                   "number_of_routing_shards")


def allocate(nodes: list[str], shards: int, replicas: int,
             load: dict[str, int], new_id: Callable[[str], str]) -> list[dict]:
    """Place each shard's primary and replicas on distinct, least-loaded nodes.

    A replica that has no node left to go to stays unassigned (None), as in Elasticsearch.
    Each placed copy gets an allocation id (`alloc`); a new index's copies start in sync.
    """
    load = {n: load.get(n, 0) for n in nodes}
    routing = []
    for _ in range(shards):
        chosen: list[str] = []
        for _ in range(1 + replicas):
            free = [n for n in nodes if n not in chosen]
            if not free:
                break
            pick = min(free, key=lambda n: (load[n], nodes.index(n)))
            load[pick] += 1
            chosen.append(pick)
        primary = chosen[0] if chosen else None
        copies = chosen[1:] + [None] * (replicas - len(chosen[1:]))
        alloc = {n: new_id(n) for n in chosen}
        routing.append({"primary": primary, "replicas": copies, "term": 1,
                        "in_sync": list(alloc.values()), "initializing": [], "alloc": alloc})
    return routing


def holder(allocation_id: str) -> str:
    """The node an allocation id was given to (ids are `<node>:<n>`)."""
    return allocation_id.rpartition(":")[0]


def in_sync_nodes(routing: dict) -> list[str]:
    """The nodes whose copies are in the shard's in-sync set (those assigned, or kept there
    because the shard's last primary failed with no copy to promote)."""
    return [holder(a) for a in routing["in_sync"]]


def new_uuid(rng: random.Random) -> str:
    """A 22-character URL-safe id like Elasticsearch's index and cluster UUIDs."""
    return base64.urlsafe_b64encode(rng.randbytes(16)).decode().rstrip("=")


def parse_settings(body: dict, profile: Profile) -> dict:
    """`settings` of an index-creation body, with or without the `index.` prefix, nested or not."""
    flat: dict = {}

    def walk(prefix: str, obj: dict) -> None:
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(name + ".", value)
            else:
                flat[name] = value

    settings = body.get("settings", {})
    if not isinstance(settings, dict):
        raise ElasticsearchError("Failed to parse settings", status=400,
                                 type="settings_exception")
    walk("", settings)
    out = {"shards": profile.default_shards, "replicas": 1, "gc_deletes": DEFAULT_GC_DELETES,
           "refresh_interval": None}
    routing_shards = None
    explicit = {}  # the settings given other than the counts, as `GET /{index}` lists them
    for name, value in flat.items():
        key = name.removeprefix("index.")
        if key not in _KNOWN_SETTINGS or (key == "number_of_routing_shards"
                                          and not profile.routing_shards_setting):
            raise IllegalArgument(
                f"unknown setting [index.{key}] please check that any required plugins are "
                "installed, or check the breaking changes documentation for removed settings"
            )
        if key in ("gc_deletes", "refresh_interval", "number_of_routing_shards"):
            explicit[key] = str(value)
        if key == "gc_deletes":
            out["gc_deletes"] = parse_time("index.gc_deletes", value)
            continue
        if key == "refresh_interval":  # None: the default (1s, search-idle from 7.0)
            out["refresh_interval"] = parse_time("index.refresh_interval", value)
            continue
        if key == "number_of_routing_shards":
            routing_shards = _int_setting("index.number_of_routing_shards", value)
            continue
        number = _int_setting(f"index.{key}", value)
        minimum = 1 if key == "number_of_shards" else 0
        if number < minimum or (key == "number_of_shards" and number > 1024):
            raise IllegalArgument(
                f"Failed to parse value [{value}] for setting [index.{key}] must be "
                + (f">= {minimum}" if number < minimum else "<= 1024")
            )
        out["shards" if key == "number_of_shards" else "replicas"] = number
    out["routing_num_shards"] = profile.routing_num_shards(out["shards"])
    if routing_shards is not None:
        if routing_shards < out["shards"]:
            raise IllegalArgument(f"index.number_of_routing_shards [{routing_shards}] must be "
                                  f">= index.number_of_shards [{out['shards']}]")
        if routing_shards % out["shards"]:
            raise IllegalArgument(f"the number of source shards [{out['shards']}] must be a "
                                  f"factor of [{routing_shards}]")
        out["routing_num_shards"] = routing_shards
    out["explicit"] = explicit
    return out


def _int_setting(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise IllegalArgument(f"Failed to parse value [{value}] for setting [{name}]")
    try:
        return int(value)
    except ValueError:
        raise IllegalArgument(f"Failed to parse value [{value}] for setting [{name}]") from None


class MasterState:
    """The cluster state and every change the master makes to it."""

    def __init__(self, profile: Profile, *, nodes: dict[str, dict], rng: random.Random,
                 master: str = "manager", cluster_name: str = "occsim") -> None:
        self.profile = profile
        self.rng = rng
        self.state: dict = {
            "version": 1, "cluster_name": cluster_name, "cluster_uuid": new_uuid(rng),
            "master": master, "master_node": None, "nodes": dict(nodes), "indices": {},
        }
        self._allocations = 0

    def _allocation_id(self, node: str) -> str:
        """A new allocation id: which copy of a shard on which node (a copy that is dropped
        and later allocated again on the same node gets a new one, as in Elasticsearch)."""
        self._allocations += 1
        return f"{node}:{self._allocations}"

    def _bump(self) -> dict:
        self.state = {**self.state, "version": self.state["version"] + 1}
        return self.state

    def node_names(self) -> list[str]:
        return list(self.state["nodes"])

    def create_index(self, index: str, body: dict, doc_type: str | None = None) -> dict:
        validate_index_name(index)
        if index in self.state["indices"]:
            existing = self.state["indices"][index]
            kind = self.profile.index_exists_type
            raise ElasticsearchError(
                f"index [{index}/{existing['uuid']}] already exists", status=400, type=kind,
                meta={"index_uuid": existing["uuid"], "index": index},
            )
        if index in self.aliases():
            raise ElasticsearchError(
                f"Invalid index name [{index}], already exists as alias", status=400,
                type="invalid_index_name_exception", meta={"index_uuid": "_na_", "index": index})
        settings = parse_settings(body, self.profile)
        aliases = body.get("aliases", {})
        if not isinstance(aliases, dict):
            raise ElasticsearchError(f"Failed to parse aliases [{aliases}]", status=400,
                                     type="parse_exception")
        for alias in aliases:
            self._check_alias(alias, index)
        load: dict[str, int] = {}
        for meta in self.state["indices"].values():
            for shard in meta["routing"]:
                for node in [shard["primary"], *shard["replicas"]]:
                    if node is not None:
                        load[node] = load.get(node, 0) + 1
        meta = {
            "uuid": new_uuid(self.rng), **settings,
            "type": doc_type if self.profile.one_type_per_index else None,
            "aliases": sorted(aliases),
            "routing": allocate(self.node_names(), settings["shards"], settings["replicas"],
                                load, self._allocation_id),
        }
        self.state["indices"] = {**self.state["indices"], index: meta}
        return self._bump()

    def aliases(self) -> dict[str, list[str]]:
        """Every alias and the indices it points to."""
        out: dict[str, list[str]] = {}
        for index, meta in sorted(self.state["indices"].items()):
            for alias in meta.get("aliases", ()):
                out.setdefault(alias, []).append(index)
        return out

    def _check_alias(self, alias: str, index: str) -> None:
        """5.x/6.x name the index that has the alias's name; 7.9+ words it for data streams."""
        if alias == index or alias in self.state["indices"]:
            if self.profile.alias_error_names_data_streams:
                raise ElasticsearchError(f"Invalid alias name [{alias}]: an index or data stream "
                                         "exists with the same name as the alias", status=400,
                                         type="invalid_alias_name_exception")
            uuid = self.state["indices"].get(alias, {}).get("uuid", "_na_")
            raise ElasticsearchError(
                f"Invalid alias name [{alias}], an index exists with the same name as the alias",
                status=400, type="invalid_alias_name_exception",
                meta={"index_uuid": uuid, "index": alias})

    def put_alias(self, index: str, alias: str) -> dict:
        """`PUT /{index}/_alias/{name}`: point an alias at an index too."""
        meta = self.state["indices"].get(index)
        if meta is None:
            raise IndexNotFound(index, self.profile.no_such_index(index))
        self._check_alias(alias, index)
        if alias not in meta.get("aliases", ()):
            self.state["indices"] = {**self.state["indices"], index: {
                **meta, "aliases": sorted([*meta.get("aliases", ()), alias])}}
            return self._bump()
        return self.state

    def delete_index(self, index: str) -> dict:
        if index not in self.state["indices"]:
            raise IndexNotFound(index, self.profile.no_such_index(index))
        self.state["indices"] = {k: v for k, v in self.state["indices"].items() if k != index}
        return self._bump()

    # -- membership and failover ---------------------------------------------------------------
    def add_node(self, name: str, info: dict,
                 held: list[tuple[str, int, str]] = ()) -> list[tuple[str, int, str, int]]:
        """A node joins (or comes back) holding the shard copies `held` (index, shard,
        allocation id). A shard without a primary gets it back on a returning copy whose
        allocation id is in the in-sync set (Elasticsearch's PrimaryShardAllocator), with a
        new primary term; other copies wait for `reroute`. Returns the promotions."""
        self.state = {**self.state, "nodes": {**self.state["nodes"], name: info}}
        promotions = []
        for index, shard, allocation_id in held:
            meta = self.state["indices"].get(index)
            if meta is None or shard >= len(meta["routing"]):
                continue
            routing = meta["routing"][shard]
            if routing["primary"] is not None or allocation_id not in routing["in_sync"]:
                continue
            term = routing["term"] + 1
            self.state = _with_shard(self.state, index, shard, {
                **routing, "primary": name, "term": term,
                "alloc": {**routing["alloc"], name: allocation_id}})
            promotions.append((index, shard, name, term))
        self._bump()
        return promotions

    def remove_node(self, name: str) -> list[tuple[str, int, str, int]]:
        """A node left or failed: drop its copies, promote an in-sync replica where it was
        primary (bumping the primary term). Returns the promotions (index, shard, node, term).

        The failed copies leave the in-sync set, except the last primary's when no active
        copy is left: its node may come back with the data (IndexMetadataUpdater keeps the
        allocation id of a failed primary that had no copy to fail over to)."""
        promotions = []
        nodes = {n: i for n, i in self.state["nodes"].items() if n != name}
        self.state = {**self.state, "nodes": nodes}
        for index, meta in self.state["indices"].items():
            for shard, routing in enumerate(meta["routing"]):
                copies = [routing["primary"], *routing["replicas"]]
                if name not in copies:
                    continue
                replicas = [None if r == name else r for r in routing["replicas"]]
                gone = routing["alloc"].get(name)
                alloc = {n: a for n, a in routing["alloc"].items() if n != name}
                in_sync = [a for a in routing["in_sync"] if a != gone]
                initializing = [n for n in routing["initializing"] if n != name]
                primary, term = routing["primary"], routing["term"]
                if primary == name:
                    candidates = [r for r in replicas if r is not None
                                  and alloc[r] in in_sync and r not in initializing]
                    primary = candidates[0] if candidates else None
                    if primary is not None:
                        replicas = [None if r == primary else r for r in replicas]
                        term += 1
                        promotions.append((index, shard, primary, term))
                    else:  # red: no replica without a primary, the failed one stays in sync
                        replicas = [None] * len(replicas)
                        alloc, initializing = {}, []
                        in_sync = [*in_sync, gone]
                self.state = _with_shard(self.state, index, shard, {
                    **routing, "primary": primary, "replicas": replicas, "term": term,
                    "in_sync": in_sync, "initializing": initializing, "alloc": alloc})
        self._bump()
        return promotions

    def fail_replica(self, index: str, shard: int, replica: str, term: int) -> bool:
        """A primary reports a replica that did not acknowledge. Refused (False) when the
        primary's term is stale: that primary was replaced and must not acknowledge."""
        meta = self.state["indices"].get(index)
        if meta is None:
            return False
        routing = meta["routing"][shard]
        if term < routing["term"]:
            return False
        if replica in routing["replicas"]:
            gone = routing["alloc"][replica]
            self.state = _with_shard(self.state, index, shard, {
                **routing, "replicas": [None if r == replica else r for r in routing["replicas"]],
                "in_sync": [a for a in routing["in_sync"] if a != gone],
                "initializing": [n for n in routing["initializing"] if n != replica],
                "alloc": {n: a for n, a in routing["alloc"].items() if n != replica}})
            self._bump()
        return True

    def reroute(self, avoid: frozenset = frozenset()) -> list[tuple[str, int, str, str]]:
        """Give unassigned replica slots to nodes without a copy of that shard, least loaded
        first, never to an (index, shard, node) in `avoid`. Each new copy starts
        initializing. Returns the recoveries to run (index, shard, primary, target)."""
        names = list(self.state["nodes"])
        load = {n: 0 for n in names}
        for meta in self.state["indices"].values():
            for routing in meta["routing"]:
                for n in [routing["primary"], *routing["replicas"]]:
                    if n in load:
                        load[n] += 1
        recoveries = []
        for index, meta in self.state["indices"].items():
            for shard, routing in enumerate(meta["routing"]):
                if routing["primary"] is None:
                    continue
                replicas = list(routing["replicas"])
                initializing = list(routing["initializing"])
                alloc = dict(routing["alloc"])
                for slot, holder in enumerate(replicas):
                    if holder is not None:
                        continue
                    free = [n for n in names if n != routing["primary"] and n not in replicas
                            and (index, shard, n) not in avoid]
                    if not free:
                        break
                    target = min(free, key=lambda n: (load[n], names.index(n)))
                    load[target] += 1
                    replicas[slot] = target
                    initializing.append(target)
                    alloc[target] = self._allocation_id(target)
                    recoveries.append((index, shard, routing["primary"], target))
                if replicas != routing["replicas"]:
                    self.state = _with_shard(self.state, index, shard, {
                        **routing, "replicas": replicas, "initializing": initializing,
                        "alloc": alloc})
        if recoveries:
            self._bump()
        return recoveries

    def mark_started(self, index: str, shard: int, node: str) -> None:
        """A recovered copy is in sync with its primary."""
        meta = self.state["indices"].get(index)
        if meta is None:
            return
        routing = meta["routing"][shard]
        if node not in routing["initializing"]:
            return
        started = routing["alloc"][node]
        self.state = _with_shard(self.state, index, shard, {
            **routing, "initializing": [n for n in routing["initializing"] if n != node],
            "in_sync": [*[a for a in routing["in_sync"] if a != started], started]})
        self._bump()

    def set_type(self, index: str, doc_type: str) -> dict:
        meta = self.state["indices"].get(index)
        if meta is None:
            raise IndexNotFound(index, self.profile.no_such_index(index))
        if meta.get("type") is None:
            self.state["indices"] = {**self.state["indices"],
                                     index: {**meta, "type": doc_type}}
            return self._bump()
        return self.state


class LocalMaster:
    """The master of a one-node cluster, in the node's own process (`occsim node`)."""

    def __init__(self, master: MasterState) -> None:
        self.master = master

    async def create_index(self, index: str, settings: dict, doc_type: str | None) -> dict:
        return self.master.create_index(index, settings, doc_type)

    async def delete_index(self, index: str) -> dict:
        return self.master.delete_index(index)

    async def put_alias(self, index: str, alias: str) -> dict:
        return self.master.put_alias(index, alias)

    async def set_type(self, index: str, doc_type: str) -> dict:
        return self.master.set_type(index, doc_type)

    async def fail_replica(self, index: str, shard: int, replica: str, term: int) -> bool:
        return self.master.fail_replica(index, shard, replica, term)


def _with_shard(state: dict, index: str, shard: int, routing: dict) -> dict:
    meta = state["indices"][index]
    table = list(meta["routing"])
    table[shard] = routing
    return {**state, "indices": {**state["indices"], index: {**meta, "routing": table}}}
