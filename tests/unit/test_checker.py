"""Unit tests for cluster.checker: the invariants as pure functions over hand-written traces.

Each trace is built event by event with `Trace`, in the shape the nodes record them (see
cluster/trace.py). Good traces must pass with no violations; each bad trace breaks exactly one
invariant and must name the events that show it.
"""

from occsim.cluster.trace.checker import INVARIANTS, Violation, check, format_report

IDX = "idx"


class Trace:
    """A hand-written trace: events in merge order, with t/lc/seq filled in."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._msg = 0

    def add(self, kind: str, node: str, **fields) -> dict:
        n = len(self.events)
        event = {"kind": kind, "node": node, "t": n / 1000, "lc": n + 1, "seq": n, **fields}
        self.events.append(event)
        return event

    # -- the primary ---------------------------------------------------------------------------
    def write(self, node, doc, version, seq_no, term=1, *, op="index", result=None,
              digest=None, shard=0, **condition) -> dict:
        if result is None:
            result = "deleted" if op == "delete" else ("created" if version == 1 else "updated")
        fields = dict(index=IDX, shard=shard, doc=doc, op=op, version=version, seq_no=seq_no,
                      term=term, result=result, version_type="internal")
        if op == "index":
            fields["digest"] = digest or f"{doc}{version}"
        fields.update(condition)
        return self.add("primary_write", node, **fields)

    def conflict(self, node, doc, term=1, shard=0, **extra) -> dict:
        return self.add("conflict", node, index=IDX, shard=shard, doc=doc, term=term,
                        reason="version conflict", **extra)

    def promote(self, node, term, shard=0) -> dict:
        return self.add("promote", node, index=IDX, shard=shard, term=term)

    # -- replication ---------------------------------------------------------------------------
    def _op(self, w: dict, with_seq: bool = True) -> dict:
        fields = {k: w[k] for k in ("index", "shard", "doc", "op", "version", "term")}
        if with_seq:
            fields["seq_no"] = w["seq_no"]
        return fields

    def send(self, w: dict, dst: str) -> str:
        self._msg += 1
        msg = f"{w['node']}:{self._msg}"
        self.add("send", w["node"], msg=msg, src=w["node"], dst=dst, mkind="replicate",
                 delay_ms=1.0, **self._op(w))
        return msg

    def drop(self, w: dict, dst: str, msg: str) -> dict:
        return self.add("drop", "manager", msg=msg, src=w["node"], dst=dst, mkind="replicate",
                        **self._op(w))

    def deliver(self, w: dict, dst: str, msg: str, with_seq: bool = True) -> dict:
        return self.add("deliver", dst, msg=msg, src=w["node"], dst=dst, mkind="replicate",
                        **self._op(w, with_seq))

    def apply(self, w: dict, dst: str, with_seq: bool = True) -> dict:
        return self.add("apply", dst, **self._op(w, with_seq))

    def discard(self, w: dict, dst: str, held_version, held_seq_no, with_seq=True) -> dict:
        return self.add("discard", dst, held_version=held_version, held_seq_no=held_seq_no,
                        reason="stale", **self._op(w, with_seq))

    def ack(self, w: dict, dst: str, msg: str, outcome="applied") -> dict:
        return self.add("ack", w["node"], msg=msg, src=dst, dst=w["node"], outcome=outcome)

    def replicate(self, w: dict, dst: str, with_seq: bool = True) -> dict:
        """send → deliver → apply → ack; returns the apply event."""
        msg = self.send(w, dst)
        self.deliver(w, dst, msg, with_seq)
        applied = self.apply(w, dst, with_seq)
        self.ack(w, dst, msg)
        return applied

    # -- the client ----------------------------------------------------------------------------
    def request(self, node, method, doc, rid) -> dict:
        return self.add("client_request", node, client="alice", method=method,
                        path=f"/{IDX}/_doc/{doc}", msg=rid, index=IDX, doc=doc)

    def respond(self, node, w: dict | None, rid, *, status=None, with_seq=True, **fields):
        """The REST answer to a write (no shard, as the node records it)."""
        if w is not None:
            result = w["result"]
            fields = dict(index=IDX, doc=w["doc"], version=w["version"], result=result,
                          **fields)
            if with_seq:
                fields.update(seq_no=w["seq_no"], term=w["term"])
            if status is None:
                status = 201 if result == "created" else (404 if result == "not_found" else 200)
        method = "DELETE" if fields.get("result") in ("deleted", "not_found") else "PUT"
        return self.add("response", node, client="alice", status=status, method=method,
                        path=f"/{IDX}/_doc/{fields.get('doc')}", msg=rid, **fields)

    # -- the end of the run --------------------------------------------------------------------
    def state(self, node, docs, primary=False, shard=0) -> dict:
        """docs: {id: (version, seq_no, term, digest)} or {id: "deleted"}."""
        listed = []
        for doc_id, held in docs.items():
            if held == "deleted":
                listed.append({"id": doc_id, "version": None, "seq_no": None, "term": None,
                               "digest": None, "deleted": True})
            else:
                version, seq_no, term, digest = held
                listed.append({"id": doc_id, "version": version, "seq_no": seq_no,
                               "term": term, "digest": digest, "deleted": False})
        return self.add("state", node, index=IDX, shard=shard, primary=primary, docs=listed)


def invariants(violations: list[Violation]) -> list[str]:
    return [v.invariant for v in violations]


# ----------------------------------------------------------------------------------------------
# good traces


def good_trace_7() -> Trace:
    """Profile 7: two copies, out-of-order delivery, delete, re-create, CAS, a 409, externals."""
    t = Trace()
    t.add("node_up", "n1")
    t.add("node_up", "n2")
    t.request("n1", "PUT", "x", "r1")
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    # two updates whose replication crosses: seq_no 2 arrives first, seq_no 1 is discarded
    w2 = t.write("n1", "x", 2, 1)
    w3 = t.write("n1", "x", 3, 2)
    m2, m3 = t.send(w2, "n2"), t.send(w3, "n2")
    t.deliver(w3, "n2", m3)
    t.apply(w3, "n2")
    t.ack(w3, "n2", m3)
    t.deliver(w2, "n2", m2)
    t.discard(w2, "n2", held_version=3, held_seq_no=2)
    t.ack(w2, "n2", m2, outcome="discarded")
    t.respond("n1", w2, "r2")
    t.respond("n1", w3, "r3")
    # delete, then re-create while the tombstone lives
    w4 = t.write("n1", "x", 4, 3, op="delete")
    t.replicate(w4, "n2")
    t.respond("n1", w4, "r4")
    w5 = t.write("n1", "x", 5, 4, result="created")
    t.replicate(w5, "n2")
    t.respond("n1", w5, "r5")
    # compare-and-set on the re-created doc, then the same CAS again: 409
    w6 = t.write("n1", "x", 6, 5, if_seq_no=4, if_primary_term=1)
    t.replicate(w6, "n2")
    t.respond("n1", w6, "r6")
    t.conflict("n1", "x")
    t.add("response", "n1", client="alice", status=409, method="PUT", path="/idx/_doc/x",
          msg="r7", reason="version conflict")
    w7 = t.write("n1", "y", 1, 6)
    t.replicate(w7, "n2")
    t.respond("n1", w7, "r8")
    # external versions: strictly greater, then external_gte with an equal version
    w8 = t.write("n1", "z", 10, 7, result="created", version_type="external",
                 expected_version=10)
    t.replicate(w8, "n2")
    w9 = t.write("n1", "z", 10, 8, result="updated", digest="z10b",
                 version_type="external_gte", expected_version=10)
    t.replicate(w9, "n2")
    t.respond("n1", w9, "r9")
    held = {"x": (6, 5, 1, "x6"), "y": (1, 6, 1, "y1"), "z": (10, 8, 1, "z10b")}
    t.state("n1", held, primary=True)
    t.state("n2", held)
    return t


def test_good_profile_7_trace_passes():
    assert check(good_trace_7().events, profile=7) == []


def test_good_profile_7_trace_passes_with_tombstones_in_state():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    w2 = t.write("n1", "x", 2, 1, op="delete")
    t.replicate(w2, "n2")
    t.respond("n1", w2, "r2")
    t.state("n1", {"x": "deleted"}, primary=True)
    t.state("n2", {})
    assert check(t.events, profile=7) == []


def good_trace_5() -> Trace:
    """Profile 5: replicas order by version (no seq_no on their events or state)."""
    t = Trace()
    t.request("n1", "PUT", "x", "r1")
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2", with_seq=False)
    t.respond("n1", w1, "r1", with_seq=False)
    # internal-version OCC (?version=1), then a blind update; replication crosses
    w2 = t.write("n1", "x", 2, 1, expected_version=1)
    w3 = t.write("n1", "x", 3, 2)
    m2, m3 = t.send(w2, "n2"), t.send(w3, "n2")
    t.deliver(w3, "n2", m3, with_seq=False)
    t.apply(w3, "n2", with_seq=False)
    t.deliver(w2, "n2", m2, with_seq=False)
    t.discard(w2, "n2", held_version=3, held_seq_no=None, with_seq=False)
    t.respond("n1", w2, "r2", with_seq=False)
    t.respond("n1", w3, "r3", with_seq=False)
    # a stale ?version=2 is refused
    t.conflict("n1", "x")
    # delete and re-create while the tombstone lives: the version continues
    w4 = t.write("n1", "x", 4, 3, op="delete")
    t.replicate(w4, "n2", with_seq=False)
    t.respond("n1", w4, "r4", with_seq=False)
    w5 = t.write("n1", "x", 5, 4, result="created")
    t.replicate(w5, "n2", with_seq=False)
    t.respond("n1", w5, "r5", with_seq=False)
    held = {"x": (5, None, None, "x5")}
    t.state("n1", held, primary=True)
    t.state("n2", held)
    return t


def test_good_profile_5_trace_passes():
    assert check(good_trace_5().events, profile=5) == []


def test_abrupt_kill_with_lost_events_passes():
    """n1 is SIGKILLed: its last primary writes and their answers never reach the trace."""
    t = Trace()
    for n in ("n1", "n2", "n3"):
        t.add("node_up", n)
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.replicate(w1, "n3")
    t.respond("n1", w1, "r1")
    # lost: n1's primary_write and send of x v2 (seq_no 1) and z v1 (seq_no 2); only the
    # receivers' events survive, and nobody acknowledged them
    lost_x = {"node": "n1", "index": IDX, "shard": 0, "doc": "x", "op": "index", "version": 2,
              "seq_no": 1, "term": 1}
    lost_z = {"node": "n1", "index": IDX, "shard": 0, "doc": "z", "op": "index", "version": 1,
              "seq_no": 2, "term": 1}
    t.deliver(lost_x, "n2", "n1:90")
    t.apply(lost_x, "n2")
    t.deliver(lost_z, "n3", "n1:91")
    t.apply(lost_z, "n3")
    t.add("node_down", "n1", abrupt=True)
    t.promote("n2", 2)
    w3 = t.write("n2", "x", 3, 2, term=2)
    t.replicate(w3, "n3")
    t.respond("n2", w3, "r3")
    t.state("n1", {}, primary=True)  # a down node's copy is not active (it lost everything)
    t.state("n2", {"x": (3, 2, 2, "x3")}, primary=True)
    t.state("n3", {"x": (3, 2, 2, "x3"), "z": (1, 2, 1, "z1")})
    assert check(t.events, profile=7) == []


def test_restarted_killed_node_may_hold_writes_whose_events_were_lost():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    # n1 wrote y (seq_no 1) just before SIGKILL: neither the write nor its send was recorded
    t.add("node_down", "n1", abrupt=True)
    t.add("node_up", "n1")
    t.state("n1", {"x": (1, 0, 1, "x1"), "y": (1, 1, 1, "y1")}, primary=True)
    t.state("n2", {"x": (1, 0, 1, "x1")})
    assert check(t.events, profile=7) == []


def test_same_unexplained_document_without_a_kill_is_reported():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    bad = t.state("n1", {"x": (1, 0, 1, "x1"), "y": (1, 1, 1, "y1")}, primary=True)
    t.state("n2", {"x": (1, 0, 1, "x1")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["convergence"]
    assert found[0].events == (bad,)


def test_partitioned_old_primary_with_fenced_writes_passes():
    """n1 keeps writing in term 1 after n2 became primary in term 2; none of it was acked."""
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.replicate(w1, "n3")
    t.respond("n1", w1, "r1")
    stale = t.write("n1", "x", 2, 1, digest="old")
    msg = t.send(stale, "n2")
    t.drop(stale, "n2", msg)
    t.promote("n2", 2)
    w2 = t.write("n2", "x", 2, 1, term=2, digest="new")
    t.replicate(w2, "n3")
    t.respond("n2", w2, "r2")
    t.state("n1", {"x": (2, 1, 1, "old")}, primary=True)
    t.state("n2", {"x": (2, 1, 2, "new")}, primary=True)
    t.state("n3", {"x": (2, 1, 2, "new")})
    assert check(t.events, profile=7) == []


def test_stale_primary_conditional_write_against_its_own_history_passes():
    """A paused old primary resumes and runs a CAS against its own copy after n2 took over."""
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    t.promote("n2", 2)
    w2 = t.write("n2", "x", 2, 1, term=2, digest="new")
    t.respond("n2", w2, "r2")
    t.write("n1", "x", 2, 2, digest="stale", if_seq_no=0, if_primary_term=1)  # never acked
    t.state("n2", {"x": (2, 1, 2, "new")}, primary=True)
    assert check(t.events, profile=7) == []


def test_partitioned_primary_conditional_write_with_a_higher_seq_no_passes():
    """Cut off, n1 runs a CAS at seq_no 3 before n2's promotion; n2 goes on from seq_no 2."""
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    t.write("n1", "y", 1, 1)
    t.write("n1", "y", 2, 2)
    t.write("n1", "x", 2, 3, digest="stale", if_seq_no=0, if_primary_term=1)  # never acked
    t.promote("n2", 2)
    w2 = t.write("n2", "x", 2, 1, term=2, digest="new", if_seq_no=0, if_primary_term=1)
    t.respond("n2", w2, "r2")
    t.state("n2", {"x": (2, 1, 2, "new")}, primary=True)
    assert check(t.events, profile=7) == []


def test_failed_replica_is_not_an_active_copy():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    msg = t.send(w1, "n2")
    t.drop(w1, "n2", msg)
    t.add("replica_failed", "n1", index=IDX, shard=0, dst="n2", doc="x", reason="timeout")
    t.respond("n1", w1, "r1")
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    t.state("n2", {})
    assert check(t.events, profile=7) == []


def test_restart_at_version_one_after_expired_tombstone_is_allowed():
    t = Trace()
    t.write("n1", "x", 3, 0)
    t.write("n1", "x", 4, 1, op="delete")
    t.write("n1", "x", 1, 2, result="created")
    assert check(t.events, profile=7) == []


# ----------------------------------------------------------------------------------------------
# convergence


def test_convergence_replica_applies_stale_operation():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    w2 = t.write("n1", "x", 2, 1)
    m1, m2 = t.send(w1, "n2"), t.send(w2, "n2")
    t.deliver(w2, "n2", m2)
    newer = t.apply(w2, "n2")
    t.deliver(w1, "n2", m1)
    t.apply(w1, "n2")  # wrong: seq_no 0 after seq_no 1 must be discarded
    t.state("n1", {"x": (2, 1, 1, "x2")}, primary=True)
    bad = t.state("n2", {"x": (1, 0, 1, "x1")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["convergence"]
    assert found[0].events == (w1, w2, newer, bad)
    assert "n2" in found[0].message and "'x'" in found[0].message


def test_convergence_profile_5_replica_applies_lower_version():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    w2 = t.write("n1", "x", 2, 1)
    m1, m2 = t.send(w1, "n2"), t.send(w2, "n2")
    t.deliver(w2, "n2", m2, with_seq=False)
    newer = t.apply(w2, "n2", with_seq=False)
    t.deliver(w1, "n2", m1, with_seq=False)
    t.apply(w1, "n2", with_seq=False)
    t.state("n1", {"x": (2, None, None, "x2")}, primary=True)
    bad = t.state("n2", {"x": (1, None, None, "x1")})
    found = check(t.events, profile=5)
    assert invariants(found) == ["convergence"]
    assert found[0].events == (w1, w2, newer, bad)


def test_convergence_document_no_operation_wrote():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    bad = t.state("n2", {"x": (1, 0, 1, "x1"), "ghost": (7, 9, 1, "g")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["convergence"]
    assert found[0].events == (bad,)
    assert "'ghost'" in found[0].message


def test_convergence_compares_digest():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    applied = t.replicate(w1, "n2")
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    bad = t.state("n2", {"x": (1, 0, 1, "something else")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["convergence"]
    assert found[0].events == (w1, applied, bad)


def test_convergence_compares_seq_no_from_profile_6_only():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    t.state("n2", {"x": (1, 7, 1, "x1")})
    assert invariants(check(t.events, profile=6)) == ["convergence"]
    assert check(t.events, profile=5) == []


def test_convergence_skipped_without_state_events():
    t = good_trace_7()
    events = [e for e in t.events if e["kind"] != "state"]
    events.append(dict(events[-1], kind="apply", node="n2", doc="x", version=1, seq_no=0,
                       term=1, op="index"))  # a stale apply would be visible only via state
    assert "convergence" not in invariants(check(events, profile=7))


# ----------------------------------------------------------------------------------------------
# acked_durability


def test_acked_write_lost_on_replica():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    msg = t.send(w1, "n2")
    t.drop(w1, "n2", msg)
    ok = t.respond("n1", w1, "r1")  # acknowledged although n2 never got it
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    bad = t.state("n2", {})
    found = check(t.events, profile=7)
    assert invariants(found) == ["acked_durability"]
    assert found[0].events == (w1, ok, bad)


def test_acked_delete_lost_on_replica():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    w2 = t.write("n1", "x", 2, 1, op="delete")
    msg = t.send(w2, "n2")
    t.drop(w2, "n2", msg)
    ok = t.respond("n1", w2, "r2")
    t.state("n1", {"x": "deleted"}, primary=True)
    bad = t.state("n2", {"x": (1, 0, 1, "x1")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["acked_durability"]
    assert found[0].events == (w2, ok, bad)
    assert "delete" in found[0].message


def test_acked_write_lost_by_promoting_a_failed_replica():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    msg = t.send(w1, "n3")
    t.drop(w1, "n3", msg)
    t.add("replica_failed", "n1", index=IDX, shard=0, dst="n3", doc="x", reason="timeout")
    ok = t.respond("n1", w1, "r1")
    t.add("node_down", "n1", abrupt=True)
    t.promote("n3", 2)  # the master promotes the copy that missed the write
    t.state("n2", {"x": (1, 0, 1, "x1")})
    bad = t.state("n3", {}, primary=True)
    found = check(t.events, profile=7)
    assert invariants(found) == ["acked_durability"]
    assert found[0].events == (w1, ok, bad)


def test_stale_primary_cannot_fail_a_copy():
    """n1 (term 1) counts n3 as failed after n3 rejected it; the master would refuse that."""
    t = Trace()
    t.promote("n2", 2)
    w1 = t.write("n2", "x", 1, 0, term=2)
    t.replicate(w1, "n3")
    t.respond("n2", w1, "r1")
    stale = t.write("n1", "y", 1, 0, term=1)
    msg = t.send(stale, "n3")
    t.deliver(stale, "n3", msg)
    t.add("reject", "n3", reason="operation primary term [1] is too old (current [2])",
          **{k: stale[k] for k in ("index", "shard", "doc", "op", "version", "seq_no", "term")})
    t.add("replica_failed", "n1", index=IDX, shard=0, dst="n3", doc="y", reason="too old")
    w2 = t.write("n2", "x", 2, 1, term=2)
    msg = t.send(w2, "n3")
    t.drop(w2, "n3", msg)
    ok = t.respond("n2", w2, "r2")  # acknowledged without n3, which nobody could fail
    t.state("n2", {"x": (2, 1, 2, "x2")}, primary=True)
    bad = t.state("n3", {"x": (1, 0, 2, "x1")})
    found = check(t.events, profile=7)
    assert invariants(found) == ["acked_durability"]
    assert found[0].events == (w2, ok, bad)


def test_acked_write_superseded_by_later_write_is_durable():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    w2 = t.write("n1", "x", 2, 1)  # not (yet) acknowledged, but applied everywhere
    t.replicate(w2, "n2")
    held = {"x": (2, 1, 1, "x2")}
    t.state("n1", held, primary=True)
    t.state("n2", held)
    assert check(t.events, profile=7) == []


# ----------------------------------------------------------------------------------------------
# single_primary


def test_two_nodes_write_as_primary_in_the_same_term():
    t = Trace()
    a = t.write("n1", "x", 1, 0)
    b = t.write("n2", "y", 1, 1)
    found = check(t.events, profile=7)
    assert invariants(found) == ["single_primary"]
    assert found[0].events == (a, b)
    assert "term 1" in found[0].message


def test_two_promotions_with_the_same_term():
    t = Trace()
    a = t.promote("n2", 2)
    b = t.promote("n3", 2)
    found = check(t.events, profile=7)
    assert invariants(found) == ["single_primary"]
    assert found[0].events == (a, b)


# ----------------------------------------------------------------------------------------------
# term_fencing


def test_replica_applies_operation_of_older_term_after_promotion():
    t = Trace()
    t.write("n1", "x", 1, 0)
    promoted = t.promote("n2", 2)
    stale = t.write("n1", "x", 2, 1)  # n1 does not know it was replaced
    msg = t.send(stale, "n2")
    t.deliver(stale, "n2", msg)
    bad = t.apply(stale, "n2")  # must be rejected: term 1 < 2
    found = check(t.events, profile=7)
    assert invariants(found) == ["term_fencing"]
    assert found[0].events == (promoted, bad)


def test_replica_applies_older_term_after_applying_newer_term():
    t = Trace()
    t.promote("n2", 2)
    new = t.write("n2", "x", 1, 0, term=2)
    newer_applied = t.replicate(new, "n3")
    old = {"node": "n1", "index": IDX, "shard": 0, "doc": "y", "op": "index", "version": 1,
           "seq_no": 5, "term": 1}
    bad = t.apply(old, "n3")
    found = check(t.events, profile=7)
    assert invariants(found) == ["term_fencing"]
    assert found[0].events == (newer_applied, bad)


def test_restarted_replica_forgets_terms():
    t = Trace()
    t.promote("n2", 2)
    t.add("node_down", "n2", abrupt=True)
    t.add("node_up", "n2")
    old = {"node": "n1", "index": IDX, "shard": 0, "doc": "y", "op": "index", "version": 1,
           "seq_no": 0, "term": 1}
    t.apply(old, "n2")
    assert "term_fencing" not in invariants(check(t.events, profile=7))


def test_stale_primary_acknowledges_after_newer_term_promoted():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    promoted = t.promote("n2", 2)
    ok = t.respond("n1", w1, "r1")
    found = check(t.events, profile=7)
    assert invariants(found) == ["term_fencing"]
    assert found[0].events == (w1, promoted, ok)
    assert "term 2" in found[0].message


def test_late_acknowledgement_of_a_write_the_new_primary_had_passes():
    """n1 was paused with both confirmations buffered; it answers after n2's promotion."""
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.replicate(w1, "n3")
    t.promote("n2", 2)
    t.respond("n1", w1, "r1")
    held = {"x": (1, 0, 1, "x1")}
    t.state("n2", held, primary=True)
    t.state("n3", held)
    assert check(t.events, profile=7) == []


def test_not_found_delete_is_an_acknowledged_write_but_a_get_404_is_not():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0, op="delete", result="not_found")
    promoted = t.promote("n2", 2)
    ok = t.respond("n1", w1, "r1")
    assert ok["status"] == 404 and ok["method"] == "DELETE"
    found = check(t.events, profile=7)
    assert invariants(found) == ["term_fencing"]
    assert found[0].events == (w1, promoted, ok)
    ok["method"] = "GET"
    assert check(t.events, profile=7) == []


# ----------------------------------------------------------------------------------------------
# version_monotonic


def test_internal_version_does_not_increase():
    t = Trace()
    a = t.write("n1", "x", 1, 0)
    b = t.write("n1", "x", 1, 1, result="updated")
    found = check(t.events, profile=7)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events == (a, b)


def test_restart_at_one_after_delete_must_be_a_create():
    t = Trace()
    t.write("n1", "x", 3, 0)
    d = t.write("n1", "x", 4, 1, op="delete")
    b = t.write("n1", "x", 1, 2, result="updated")
    found = check(t.events, profile=7)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events == (d, b)


def test_external_version_must_be_strictly_greater():
    t = Trace()
    a = t.write("n1", "x", 5, 0, result="created", version_type="external",
                expected_version=5)
    b = t.write("n1", "x", 5, 1, result="updated", version_type="external",
                expected_version=5)
    found = check(t.events, profile=7)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events == (a, b)


def test_external_gte_version_must_not_go_down():
    t = Trace()
    a = t.write("n1", "x", 5, 0, result="created", version_type="external_gte",
                expected_version=5)
    t.write("n1", "x", 5, 1, result="updated", version_type="external_gte",
            expected_version=5)
    c = t.write("n1", "x", 4, 2, result="updated", version_type="external_gte",
                expected_version=4)
    found = check(t.events, profile=7)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events[-1] is c and a not in found[0].events


def test_fenced_unacknowledged_write_may_reuse_a_version():
    """Why internal versions are unsafe for OCC: the new primary reuses version 2."""
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.write("n1", "x", 2, 1, digest="lost")
    t.promote("n2", 2)
    t.write("n2", "x", 2, 1, term=2, digest="kept")
    assert check(t.events, profile=7) == []


def read(t: Trace, node, doc, version, seq_no=None, term=None, rid="g1") -> dict:
    """A GET answered 200 (seq_no and term only from 6.x)."""
    fields = {"version": version}
    if seq_no is not None:
        fields.update(seq_no=seq_no, term=term)
    return t.add("response", node, client="reader", status=200, method="GET",
                 path=f"/{IDX}/_doc/{doc}", msg=rid, index=IDX, doc=doc, **fields)


def test_version_reused_after_a_client_read_it():
    """The version-reuse story: v2 seen by a GET on the old primary, then v2 again for B."""
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    t.replicate(w1, "n2")
    t.respond("n1", w1, "r1")
    lost = t.write("n1", "x", 2, 1, digest="alice")  # its replication never left n1
    seen = read(t, "n1", "x", 2, seq_no=1, term=1)
    t.add("node_down", "n1", abrupt=True)
    t.promote("n2", 2)
    reused = t.write("n2", "x", 2, 1, term=2, digest="bob")
    t.respond("n2", reused, "r2")
    t.state("n2", {"x": (2, 1, 2, "bob")}, primary=True)
    found = check(t.events, profile=7)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events == (lost, seen, reused)
    assert "Version 2 of doc 'x'" in found[0].message
    assert "read by a GET" in found[0].message


def test_version_reuse_seen_by_a_5x_get_without_seq_no():
    t = Trace()
    t.write("n1", "x", 1, 0)
    lost = t.write("n1", "x", 2, 1, digest="alice")
    seen = read(t, "n1", "x", 2)
    t.promote("n2", 2)
    reused = t.write("n2", "x", 2, 1, term=2, digest="bob")
    found = check(t.events, profile=5)
    assert invariants(found) == ["version_monotonic"]
    assert found[0].events == (lost, seen, reused)


def test_version_reuse_needs_a_client_to_have_seen_the_first_change():
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.write("n1", "x", 2, 1, digest="alice")
    read(t, "n1", "x", 1, seq_no=0, term=1)  # a GET of another version
    t.promote("n2", 2)
    t.write("n2", "x", 2, 1, term=2, digest="bob")
    read(t, "n2", "x", 2, seq_no=1, term=2, rid="g2")  # a GET of the second change
    assert check(t.events, profile=7) == []


def test_same_change_resolved_again_by_the_new_primary_is_not_a_reuse():
    """A forwarded write retried on the new primary writes the same content at version 2."""
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.write("n1", "x", 2, 1, digest="same")
    read(t, "n1", "x", 2, seq_no=1, term=1)
    t.promote("n2", 2)
    t.write("n2", "x", 2, 1, term=2, digest="same")
    assert check(t.events, profile=7) == []


def test_version_one_again_after_an_expired_tombstone_is_not_a_reuse():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0, digest="first")
    t.respond("n1", w1, "r1")
    t.write("n1", "x", 2, 1, op="delete")
    t.write("n1", "x", 1, 2, result="created", digest="second")
    assert check(t.events, profile=7) == []


# ----------------------------------------------------------------------------------------------
# conditional_writes


def test_cas_succeeds_against_an_older_seq_no():
    t = Trace()
    t.write("n1", "x", 1, 0)
    prev = t.write("n1", "x", 2, 1)
    cas = t.write("n1", "x", 3, 2, if_seq_no=0, if_primary_term=1)
    found = check(t.events, profile=7)
    assert invariants(found) == ["conditional_writes"]
    assert found[0].events == (prev, cas)
    assert "if_seq_no=0" in found[0].message


def test_cas_succeeds_on_a_missing_document():
    t = Trace()
    cas = t.write("n1", "x", 1, 0, if_seq_no=3, if_primary_term=1)
    found = check(t.events, profile=7)
    assert invariants(found) == ["conditional_writes"]
    assert found[0].events == (cas,)


def test_cas_against_a_live_tombstone_passes():
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.write("n1", "x", 2, 1, op="delete")
    t.write("n1", "x", 3, 2, result="created", if_seq_no=1, if_primary_term=1)
    assert check(t.events, profile=7) == []


def test_internal_expected_version_mismatch_profile_5():
    t = Trace()
    t.write("n1", "x", 1, 0)
    prev = t.write("n1", "x", 2, 1)
    bad = t.write("n1", "x", 3, 2, expected_version=1)
    found = check(t.events, profile=5)
    assert invariants(found) == ["conditional_writes"]
    assert found[0].events == (prev, bad)
    assert "version=1" in found[0].message


def test_create_sentinel_expected_version_is_not_a_condition():
    t = Trace()
    t.write("n1", "x", 1, 0, expected_version=-4)
    assert check(t.events, profile=5) == []


def test_conflict_consumed_a_seq_no():
    t = Trace()
    before = t.write("n1", "x", 1, 0)
    refused = t.conflict("n1", "x")
    after = t.write("n1", "y", 1, 2)  # seq_no 1 went to the refused write
    found = check(t.events, profile=7)
    assert invariants(found) == ["conditional_writes"]
    assert found[0].events == (before, refused, after)
    assert "from 0 to 2" in found[0].message


def test_conflict_for_a_request_that_was_written_anyway():
    t = Trace()
    t.request("n1", "PUT", "x", "r9")
    written = t.write("n1", "x", 1, 0, msg="r9")
    refused = t.conflict("n1", "x", msg="r9")
    found = check(t.events, profile=7)
    assert invariants(found) == ["conditional_writes"]
    assert found[0].events == (written, refused)


# ----------------------------------------------------------------------------------------------
# the report


def test_format_report_names_invariant_and_explains():
    t = Trace()
    w1 = t.write("n1", "x", 1, 0)
    msg = t.send(w1, "n2")
    t.drop(w1, "n2", msg)
    t.respond("n1", w1, "r1")
    t.state("n1", {"x": (1, 0, 1, "x1")}, primary=True)
    t.state("n2", {})
    report = format_report(check(t.events, profile=7))
    assert "acked_durability" in report
    assert "The acknowledged write of doc 'x' in idx[0]" in report
    assert "is missing from the copy on n2" in report
    lines = report.splitlines()
    assert any(line.strip().startswith("t=") and "primary_write @n1" in line for line in lines)
    assert any("state @n2" in line and "replica" in line for line in lines)


def test_format_report_without_violations():
    assert "No invariant violations" in format_report([])


def test_every_reported_invariant_is_known():
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.write("n2", "x", 1, 1, result="updated")
    for violation in check(t.events, profile=7):
        assert violation.invariant in INVARIANTS
        assert violation.message.endswith(".")



# -- search_visibility ---------------------------------------------------------------------
def test_a_search_may_lag_but_never_shows_what_was_not_written():
    t = Trace()
    t.write("n1", "x", 1, 0)
    t.add("refresh", "n2", index=IDX, shard=0)
    t.add("search", "n2", index=IDX, shard=0, hits=1, docs=[["x", 1, 0]])
    t.write("n1", "x", 2, 1)
    t.add("search", "n2", index=IDX, shard=0, hits=1, docs=[["x", 1, 0]])  # lagging: fine
    assert check(t.events, profile=7) == []
    phantom = t.add("search", "n2", index=IDX, shard=0, hits=1, docs=[["x", 3, 2]])
    found = check(t.events, profile=7)
    assert [v.invariant for v in found] == ["search_visibility"]
    assert found[0].events == (phantom,)
    assert "doc x at v3 (#2), which no primary had written" in found[0].message


def test_search_visibility_compares_versions_in_profile_5():
    t = Trace()
    t.write("n1", "x", 1, -1)
    t.add("search", "n1", index=IDX, shard=0, hits=1, docs=[["x", 1, -1]])
    assert check(t.events, profile=5) == []
    t.add("search", "n1", index=IDX, shard=0, hits=1, docs=[["x", 2, -1]])
    assert [v.invariant for v in check(t.events, profile=5)] == ["search_visibility"]
