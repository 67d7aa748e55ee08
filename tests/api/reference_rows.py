"""What the reference-row tests share: the profile groups, a step (one request and what must
come back) and the check of an answer against it."""

from __future__ import annotations

ALL = (5, 6, 7, 8, 9)
TYPED_OCC = (5, 6)  # internal-version OCC allowed
SEQ_NO = (6, 7, 8, 9)
MODERN = (7, 8, 9)


def step(op, doc="1", *, status=None, body=None, index="test_1", **expect):
    return {"op": op, "doc": doc, "status": status, "body": body, "index": index,
            "expect": expect}


def check_answer(s: dict, status: int, got, expect: dict, where: str) -> None:
    """The status the step names (else a success), and every expected body field."""
    if s["status"] is not None:
        assert status == s["status"], where
    else:
        assert status < 300, where
    for key, value in expect.items():
        if key == "error_type":
            assert got["error"]["type"] == value, where
            assert got["error"]["root_cause"][0]["type"] == value, where
        elif key == "error_reason":
            assert got["error"]["reason"] == value, where
        elif key == "error_reason_end":
            assert got["error"]["reason"].endswith(value), where
        elif key == "item_status":
            assert got["items"][0]["update"]["status"] == value, where
        else:
            assert got[key] == value, where
