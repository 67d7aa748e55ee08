"""Every row of reference §7 (index/, create/, delete/, get/) and the single-node rows of §8,
step by step, against an in-process node of each profile the row applies to.

Each case names the Elasticsearch REST test it reproduces. A step is a request and what must
come back: a status and a subset of the response body (`error.type`/`error.reason` for errors).
"""

from __future__ import annotations

import pytest
from reference_rows import ALL, MODERN, SEQ_NO, TYPED_OCC, check_answer, step


FOO = {"foo": "bar"}

CASES = {
    # ---- index/ --------------------------------------------------------------------------
    "index/30_internal_version": (TYPED_OCC, [
        step("index", _version=1), step("index", _version=2),
        step("index", version=1, status=409), step("index", version=2, _version=3),
    ]),
    "index/30_internal_version (7.x rejects)": (MODERN, [
        step("index", _version=1),
        step("index", version=1, status=400, error_type="action_request_validation_exception",
             error_reason="Validation Failed: 1: internal versioning can not be used for "
             "optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` "
             "instead;"),
    ]),
    "index/35_external_version": (ALL, [
        step("index", version_type="external", version=0, _version=0),
        step("index", version_type="external", version=5, _version=5),
        step("index", version_type="external", version=5, status=409),
        step("index", version_type="external", version=0, status=409),
        step("index", version_type="external", version=6, _version=6),
    ]),
    "index/36_external_gte_version": (ALL, [
        step("index", version_type="external_gte", version=0, _version=0),
        step("index", version_type="external_gte", version=5, _version=5),
        step("index", version_type="external_gte", version=0, status=409),
        step("index", version_type="external_gte", version=5, body={"foo": "bar2"},
             _version=5),
        step("get", _source={"foo": "bar2"}),
        step("index", version_type="external_gte", version=6, _version=6),
    ]),
    "index/37_force_version": ((5,), [
        step("index", version_type="force", version=5, _version=5),
        step("index", version_type="force", version=4, _version=4),
        step("index", version_type="force", version=5, _version=5),
        step("index", version_type="force", version=5, _version=5),
    ]),
    "index/30_cas": (SEQ_NO, [
        step("index", _version=1, _seq_no=0, _primary_term=1),
        step("get", _seq_no=0, _primary_term=1),
        step("index", if_seq_no=10000, if_primary_term=1, status=409),
        step("index", if_seq_no=0, if_primary_term=1000, status=409),
        step("index", if_seq_no=0, if_primary_term=1, _version=2),
    ]),
    "index/20_optype": (ALL, [
        step("index", op_type="create", status=201), step("index", op_type="create", status=409),
        step("index", op_type="index", _version=2),
    ]),
    "index/10_with_id": (ALL, [
        step("index", index="test-weird-index-中文", _index="test-weird-index-中文",
             _id="1", _version=1),
        step("get", index="test-weird-index-中文", _id="1", _source=FOO),
        step("index", doc="x" * 513, status=400, error_type="action_request_validation_exception"),
    ]),
    "index/12_result": (ALL, [
        step("index", result="created"), step("index", op_type="index", result="updated"),
    ]),
    "index/15_without_id": (ALL, [
        step("post", doc=None, status=201, _index="test_1", _version=1),
        step("get", doc="$last_id", _version=1, _source=FOO),
    ]),
    # ---- create/ -------------------------------------------------------------------------
    "create/10_with_id + 30_internal_version": (ALL, [
        step("create", _index="test_1", _id="1", _version=1),
        step("get", _version=1, _source=FOO),
        step("create", status=409),
        step("create", doc="3", version=5, status=400,
             error_type="action_request_validation_exception",
             error_reason="Validation Failed: 1: create operations do not support explicit "
             "versions. use index instead;"),
    ]),
    "create/35_external_version": (ALL, [
        step("create", version_type="external", version=0, status=400,
             error_reason="Validation Failed: 1: create operations only support internal "
             "versioning. use index instead;"),
        step("create", doc="2", version_type="external", version=5, status=400,
             error_reason="Validation Failed: 1: create operations only support internal "
             "versioning. use index instead;"),
    ]),
    "create/30_if_seq_no": (SEQ_NO, [
        step("create", doc="3", if_seq_no=5, if_primary_term=1, status=400,
             error_reason="Validation Failed: 1: create operations do not support compare and "
             "set. use index instead;"),
    ]),
    # ---- delete/ -------------------------------------------------------------------------
    "delete/10_basic": (ALL, [step("index", _version=1), step("delete", _version=2)]),
    "delete/12_result": (ALL, [
        step("index"), step("delete", result="deleted"),
        step("delete", status=404, result="not_found"),
    ]),
    "delete/60_missing": (ALL, [step("index", doc="2"), step("delete", status=404)]),
    "delete/11_shard_header": (ALL, [
        step("create_index", settings={"number_of_shards": 1, "number_of_replicas": 0},
             index="foobar"),
        step("index", index="foobar"),
        step("delete", index="foobar", _index="foobar", _id="1", _version=2,
             _shards={"total": 1, "successful": 1, "failed": 0}),
    ]),
    "delete/20_internal_version": (TYPED_OCC, [
        step("index", _version=1), step("delete", version=2, status=409),
        step("delete", version=1, _version=2),
    ]),
    "delete/20_internal_version (7.x rejects)": (MODERN, [
        step("index", _version=1),
        step("delete", version=1, status=400, error_type="action_request_validation_exception"),
    ]),
    "delete/20_cas": (SEQ_NO, [
        step("index", _seq_no=0), step("delete", if_seq_no=2, if_primary_term=1, status=409),
        step("delete", if_seq_no=0, if_primary_term=1, _seq_no=1),
    ]),
    "delete/25_external_version": (ALL, [
        step("index", version_type="external", version=5, _version=5),
        step("delete", version_type="external", version=4, status=409),
        step("delete", version_type="external", version=6, _version=6),
    ]),
    "delete/26_external_gte_version": (ALL, [
        step("index", version_type="external_gte", version=5, _version=5),
        step("delete", version_type="external_gte", version=4, status=409),
        step("delete", version_type="external_gte", version=6, _version=6),
        step("index", version_type="external_gte", version=6, _version=6),
        step("delete", version_type="external_gte", version=6, _version=6),
    ]),
    "delete/27_force_version": ((5,), [
        step("index", version_type="force", version=5, _version=5),
        step("delete", version_type="force", version=4, _version=4),
        step("index", version_type="force", version=6, _version=6),
        step("delete", version_type="force", version=6, _version=6),
    ]),
    # ---- get/ ----------------------------------------------------------------------------
    "get/90_versions": (ALL, [
        step("index", _version=1), step("index", _version=2),
        step("get", version=2, _id="1"), step("get", version=1, status=409),
        step("get", version=2, version_type="external", _id="1"),
        step("get", version=10, version_type="external", status=409),
        step("get", version=1, version_type="external", status=409),
        step("get", version=2, version_type="external_gte", _id="1"),
        step("get", version=10, version_type="external_gte", status=409),
        step("get", version=1, version_type="external_gte", status=409),
    ]),
    "get/95_force_versions": ((5,), [
        step("index"), step("index", _version=2),
        step("get", version=2, version_type="force", status=200),
        step("get", version=10, version_type="force", status=200),
        step("get", version=1, version_type="force", status=200),
    ]),
    "get/80_missing": (ALL, [
        step("create_index", settings={}), step("get", status=404, found=False),
    ]),
    "get/10_basic": (ALL, [
        step("index", doc="中文"), step("get", doc="中文", _index="test_1", _id="中文",
                                          _source=FOO),
    ]),
    "get/15_default_values": (ALL, [step("index"), step("get", _index="test_1", _id="1",
                                                         _source=FOO)]),
    # ---- reference §8, single node ---------------------------------------------------------
    "§8 internal index of a missing doc with a version (5.x)": ((5,), [
        step("index", version=2, status=409,
             error_reason="[test][1]: version conflict, current version [-1] is different "
             "than the one provided [2]"),
    ]),
    "§8 internal index of a missing doc with a version (6.x)": ((6,), [
        step("index", version=2, status=409,
             error_reason="[_doc][1]: version conflict, document does not exist (expected "
             "version [2])"),
    ]),
    "§8 external index of a missing doc": (ALL, [
        step("index", version_type="external", version=42, status=201, _version=42),
    ]),
    "§8 external index without a version": (ALL, [
        step("index", version_type="external", status=400,
             error_reason="Validation Failed: 1: illegal version value [-3] for version type "
             "[EXTERNAL];"),
    ]),
    "§8 delete of a missing doc leaves a tombstone": (ALL, [
        step("create_index", settings={}),
        step("delete", status=404, result="not_found", _version=1),
        step("index", status=201, result="created", _version=2),
    ]),
    "§8 re-index after delete continues the versions": (ALL, [
        step("index", _version=1), step("delete", _version=2),
        step("get", status=404, found=False),
        step("index", status=201, result="created", _version=3),
    ]),
    "§8 re-index after the tombstone expired starts at 1": (ALL, [
        step("index", _version=1), step("delete", _version=2), step("advance", doc=None,
                                                                    seconds=61),
        step("index", status=201, result="created", _version=1),
    ]),
    "§8 external delete then an older external index": (ALL, [
        step("create_index", settings={}),
        step("delete", version_type="external", version=10, status=404, _version=10),
        step("index", version_type="external", version=10, status=409),
        step("index", version_type="external", version=9, status=409),
        step("advance", doc=None, seconds=61),
        step("index", version_type="external", version=9, status=201, _version=9),
    ]),
    "§8 GET with a version of a missing or deleted doc is 404": (ALL, [
        step("create_index", settings={}), step("get", version=5, status=404),
        step("index"), step("delete"), step("get", version=2, status=404),
    ]),
    "§8 GET version=0 internal is invalid": (ALL, [
        step("index"), step("get", version=0, status=400,
                            error_type="action_request_validation_exception"),
    ]),
    "§8 CAS on a missing doc": (SEQ_NO, [
        step("index", doc="2"),
        step("index", if_seq_no=2, if_primary_term=1, status=409, error_reason_end=
             "version conflict, required seqNo [2], primary term [1]. but no document was "
             "found"),
    ]),
    "§8 CAS against a recent delete's tombstone": (SEQ_NO, [
        step("index", _seq_no=0), step("delete", _seq_no=1),
        step("index", if_seq_no=1, if_primary_term=1, status=201, result="created"),
    ]),
    "§8 wait_for_active_shards=all with a missing replica": (ALL, [
        step("index", wait_for_active_shards="all", timeout="10ms", status=503,
             error_type="unavailable_shards_exception"),
    ]),
}


async def _run(api, steps):
    last_id = None
    for n, s in enumerate(steps, 1):
        op, index, doc = s["op"], s["index"], s["doc"]
        if doc == "$last_id":
            doc = last_id
        expect = dict(s["expect"])
        params = {k: v for k, v in expect.items() if not k.startswith(("_", "error", "result",
                                                                       "found", "settings",
                                                                       "seconds"))}
        for k in params:
            expect.pop(k)
        body = s["body"] if s["body"] is not None else FOO
        if op == "advance":
            api.clock.now += expect.pop("seconds")
            continue
        if op == "create_index":
            status, got = await api("PUT", f"/{index}", {"settings": expect.pop("settings")})
        elif op == "index":
            status, got = await api("PUT", api.doc_path(index, doc), body, **params)
        elif op == "post":
            status, got = await api("POST", api.doc_path(index, "x").rsplit("/", 1)[0], body,
                                    **params)
        elif op == "create":
            status, got = await api("PUT", api.create_path(index, doc), body, **params)
        elif op == "delete":
            status, got = await api("DELETE", api.doc_path(index, doc), **params)
        else:
            status, got = await api("GET", api.doc_path(index, doc), **params)
        check_answer(s, status, got, expect, f"step {n} {op} {params}: {got}")
        if isinstance(got, dict) and "_id" in got:
            last_id = got["_id"]


@pytest.mark.parametrize(
    "name,major",
    [(name, major) for name, (majors, _) in CASES.items() for major in majors],
    ids=lambda v: str(v),
)
async def test_reference_row(make_api, name, major):
    api = await make_api(major)
    await _run(api, CASES[name][1])
