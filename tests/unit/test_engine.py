"""The shard engine without an event loop: primary decisions, replica discards, tombstones."""

from __future__ import annotations

import pytest

from occsim.node.engine import DELETE, INDEX, ShardCopy, Write
from occsim.node.errors import StaleTerm, VersionConflict
from occsim.node.versioning import VersionType

EXT = VersionType.EXTERNAL


def index(copy, uid="1", now=0.0, **kw):
    return copy.write(Write(uid, INDEX, source={"n": kw.pop("n", 0)}, **kw), now)


def test_primary_assigns_versions_and_seq_nos():
    primary = ShardCopy()
    a = index(primary)
    b = index(primary)
    c = primary.write(Write("1", DELETE), 0.0)
    assert [(r.operation.version, r.operation.seq_no, r.result) for r in (a, b, c)] == [
        (1, 0, "created"), (2, 1, "updated"), (3, 2, "deleted")]
    assert primary.local_checkpoint == 2


def test_failed_condition_consumes_no_seq_no():
    primary = ShardCopy()
    index(primary)
    with pytest.raises(VersionConflict) as err:
        index(primary, version=5)
    assert err.value.explanation == "current version [1] is different than the one provided [5]"
    assert primary.max_seq_no == 0
    assert index(primary).operation.seq_no == 1


@pytest.mark.parametrize("order_by_seq_no", [True, False])
def test_replica_discards_an_older_operation_that_arrives_late(order_by_seq_no):
    primary, replica = ShardCopy(), ShardCopy(order_by_seq_no=order_by_seq_no)
    v1 = index(primary).operation
    v2 = index(primary, n=2).operation
    v3 = index(primary, n=3).operation
    assert replica.replicate(v1, 0).applied
    assert replica.replicate(v3, 0).applied
    late = replica.replicate(v2, 0)
    assert not late.applied
    assert (late.held_version, late.held_seq_no) == (3, 2)
    assert replica.docs["1"].source == {"n": 3}


@pytest.mark.parametrize("order_by_seq_no", [True, False])
def test_the_apply_all_counterfactual_lets_a_late_older_operation_overwrite(order_by_seq_no):
    primary = ShardCopy()
    replica = ShardCopy(order_by_seq_no=order_by_seq_no, apply_all=True)
    v1, v2 = index(primary).operation, index(primary, n=2).operation
    assert replica.replicate(v2, 0).applied
    assert replica.replicate(v1, 0).applied
    assert (replica.docs["1"].version, replica.docs["1"].source) == (1, {"n": 0})


@pytest.mark.parametrize("order_by_seq_no", [True, False])
def test_duplicate_delivery_is_discarded(order_by_seq_no):
    primary, replica = ShardCopy(), ShardCopy(order_by_seq_no=order_by_seq_no)
    op = index(primary).operation
    assert replica.replicate(op, 0).applied
    assert not replica.replicate(op, 0).applied


def test_seq_no_replica_converges_in_any_order():
    primary = ShardCopy()
    ops = [index(primary, uid=str(i % 3), n=i).operation for i in range(9)]
    ops.append(primary.write(Write("1", DELETE), 0).operation)
    for order in (ops, ops[::-1], ops[1::2] + ops[::2]):
        replica = ShardCopy()
        for op in order:
            replica.replicate(op, 0)
        assert replica.snapshot() == primary.snapshot()


def test_profile_5_replica_uses_the_replication_version_type():
    primary = ShardCopy(order_by_seq_no=False)
    gte = primary.write(Write("1", INDEX, {"a": 1}, version=5,
                              version_type=VersionType.EXTERNAL_GTE), 0).operation
    again = primary.write(Write("1", INDEX, {"a": 2}, version=5,
                                version_type=VersionType.EXTERNAL_GTE), 0).operation
    replica = ShardCopy(order_by_seq_no=False)
    assert replica.replicate(gte, 0).applied
    assert replica.replicate(again, 0).applied  # equal version is newer for external_gte
    assert replica.docs["1"].source == {"a": 2}
    internal = ShardCopy(order_by_seq_no=False)
    assert index(internal).operation.version_type is EXT


def test_replica_rejects_an_older_primary_term_and_adopts_a_newer_one():
    old, new = ShardCopy(term=1), ShardCopy(term=2)
    replica = ShardCopy(term=1)
    assert replica.replicate(index(new).operation, 0).applied
    assert replica.term == 2
    with pytest.raises(StaleTerm, match=r"operation primary term \[1\] is too old "
                                        r"\(current \[2\]\)"):
        replica.replicate(index(old).operation, 0)


def test_tombstone_counts_until_gc_deletes_then_versions_restart():
    primary = ShardCopy(gc_deletes=60)
    index(primary, now=0)
    primary.write(Write("1", DELETE), 10)
    assert index(primary, now=20).operation.version == 3
    primary.write(Write("1", DELETE), 30)
    assert primary.get("1", 31) is None
    assert index(primary, now=91).operation.version == 1


def test_external_tombstone_blocks_older_versions_only_while_it_lives():
    primary = ShardCopy(gc_deletes=60)
    result = primary.write(Write("1", DELETE, version=10, version_type=EXT), 0)
    assert (result.result, result.operation.version) == ("not_found", 10)
    with pytest.raises(VersionConflict):
        primary.write(Write("1", INDEX, {"a": 1}, version=9, version_type=EXT), 59)
    assert primary.write(Write("1", INDEX, {"a": 1}, version=9, version_type=EXT),
                         61).operation.version == 9


def test_pruning_forgets_expired_tombstones_below_the_checkpoint():
    primary = ShardCopy(gc_deletes=1)
    index(primary)
    primary.write(Write("1", DELETE), 0)
    primary.prune_tombstones(5)
    assert "1" not in primary.docs


def test_cas_checks_seq_no_and_term():
    primary = ShardCopy(term=3)
    index(primary)
    with pytest.raises(VersionConflict) as err:
        index(primary, if_seq_no=0, if_primary_term=2)
    assert err.value.explanation == ("required seqNo [0], primary term [2]. current document "
                                     "has seqNo [0] and primary term [3]")
    assert index(primary, if_seq_no=0, if_primary_term=3).operation.version == 2
