"""Unit tests for transport.message: the envelope codec and every BadFrame case."""

import random
import re

import msgpack
import pytest

from occsim.transport.message import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    BadFrame,
    Envelope,
    TransportError,
    Unencodable,
    decode,
    decode_batch,
    encode,
    encode_batch,
    error_reply,
)


def _env(**over):
    args = dict(
        id="n1:17",
        src="n1",
        dst="n2",
        kind="replicate",
        body={"index": "test", "shard": 0, "doc": "1", "source": {"a": [1, 2.5, None, True]}},
        lc=42,
        reply_to=None,
    )
    args.update(over)
    return Envelope(**args)


def _frame(*fields):
    return msgpack.packb(list(fields), use_bin_type=True)


GOOD = [PROTOCOL_VERSION, "n1:1", "n1", "n2", "replicate", 0, None, {}]


def _with(index, value):
    fields = list(GOOD)
    fields[index] = value
    return _frame(*fields)


def test_round_trip():
    env = _env()
    assert decode(encode(env)) == env


def test_round_trip_reply_bytes_and_int_keys():
    env = _env(kind="replicate_ok", reply_to="n2:5", lc=0, body={"blob": b"\x00\xff", "m": {1: "x"}})
    out = decode(encode(env))
    assert out == env
    assert isinstance(out.body["blob"], bytes)


def test_wire_format_is_the_documented_array():
    env = _env(reply_to="n0:3")
    assert msgpack.unpackb(encode(env), raw=False) == [
        PROTOCOL_VERSION, env.id, env.src, env.dst, env.kind, env.lc, env.reply_to, env.body,
    ]


def test_decode_accepts_bytearray_and_memoryview():
    frame = encode(_env())
    assert decode(bytearray(frame)) == _env()
    assert decode(memoryview(frame)) == _env()


def test_default_limit():
    assert MAX_FRAME_BYTES == 64 * 1024 * 1024


def test_oversized_frame():
    frame = encode(_env())
    with pytest.raises(BadFrame, match=rf"frame of {len(frame)} bytes exceeds the limit of 10 bytes"):
        decode(frame, max_bytes=10)
    assert decode(frame, max_bytes=len(frame)) == _env()


def test_truncated_frame():
    frame = encode(_env())
    for cut in (0, 1, len(frame) // 2, len(frame) - 1):
        with pytest.raises(BadFrame):
            decode(frame[:cut])


@pytest.mark.parametrize(
    "garbage",
    [b"\xc1", b"\xa2\xff\xfe", b"\x91" * 100_000 + b"\x01", b"\x81\x92\x01\x02\x01"],
    ids=["reserved-byte", "bad-utf8", "too-deep", "list-as-map-key"],
)
def test_garbage_bytes(garbage):
    with pytest.raises(BadFrame):
        decode(garbage)


def test_random_and_mutated_bytes_raise_only_bad_frame():
    rng = random.Random(7)
    good = encode(_env())
    for _ in range(3000):
        if rng.random() < 0.5:
            frame = rng.randbytes(rng.randrange(0, 64))
        else:
            frame = bytearray(good)
            for _ in range(rng.randrange(1, 4)):
                frame[rng.randrange(len(frame))] = rng.randrange(256)
            frame = bytes(frame)
        try:
            assert isinstance(decode(frame), Envelope)
        except BadFrame:
            pass


def test_tiny_frame_declaring_huge_array_is_rejected_cheaply():
    with pytest.raises(BadFrame, match="max_array_len"):
        decode(b"\xdd\xff\xff\xff\xff")  # array32 of 4 billion elements, 5 bytes long


def test_trailing_data():
    with pytest.raises(BadFrame, match="extra data"):
        decode(encode(_env()) + b"\x00")


def test_not_bytes():
    with pytest.raises(BadFrame, match="must be bytes"):
        decode("not bytes")


@pytest.mark.parametrize("obj", [{"v": 1}, 1, "x", None])
def test_not_an_array(obj):
    with pytest.raises(BadFrame, match="array"):
        decode(msgpack.packb(obj))


@pytest.mark.parametrize("n", [0, 1, 7, 9])
def test_wrong_arity(n):
    fields = (GOOD + ["extra"])[:n]
    with pytest.raises(BadFrame, match="expected 8"):
        decode(_frame(*fields))


@pytest.mark.parametrize("version", [0, 2, "1", True, None])
def test_unknown_version(version):
    with pytest.raises(BadFrame, match=r"unknown protocol version \[.*\], this node speaks \[1\]"):
        decode(_with(0, version))


def test_unknown_version_is_reported_before_arity():
    with pytest.raises(BadFrame, match=r"unknown protocol version \[2\]"):
        decode(_frame(2, "a", "b", "c", "d", 0, None, {}, "new field"))


@pytest.mark.parametrize("index,name", [(1, "id"), (2, "src"), (3, "dst"), (4, "kind")])
@pytest.mark.parametrize("value", ["", 5, None, b"n1", ["n1"]])
def test_names_must_be_non_empty_str(index, name, value):
    with pytest.raises(BadFrame, match=rf"field \[{name}\] must be a non-empty str"):
        decode(_with(index, value))


@pytest.mark.parametrize("lc", [-1, 1.5, "3", None, True])
def test_lc_must_be_non_negative_int(lc):
    with pytest.raises(BadFrame, match=r"field \[lc\]"):
        decode(_with(5, lc))


@pytest.mark.parametrize("reply_to", [1, b"n1:1", ["n1:1"]])
def test_reply_to_must_be_str_or_nil(reply_to):
    with pytest.raises(BadFrame, match=r"field \[reply_to\]"):
        decode(_with(6, reply_to))


@pytest.mark.parametrize("body", [[], None, "x", 1, b"{}"])
def test_body_must_be_a_map(body):
    with pytest.raises(BadFrame, match=r"field \[body\] must be a map"):
        decode(_with(7, body))


def test_bad_frame_is_a_value_error():
    assert issubclass(BadFrame, ValueError)


def test_a_lone_surrogate_travels_both_ways():
    env = _env(body={"source": {"a": "\ud800", "k\udfff": ["\udc00z"]}})
    assert decode(encode(env)) == env


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, {1, 2}, object()])
def test_a_body_msgpack_cannot_hold_is_unencodable_and_the_codec_carries_on(value):
    with pytest.raises(Unencodable, match=r"\[replicate\] to \[n2\] cannot be encoded"):
        encode(_env(body={"source": {"a": value}}))
    assert isinstance(Unencodable("x"), TransportError)
    assert decode(encode(_env())) == _env()  # nothing of the failed frame is left behind


def test_error_reply_keeps_the_routing():
    reply = error_reply(_env(reply_to="n2:3"), "boom")
    assert (reply.id, reply.dst, reply.reply_to) == ("n1:17", "n2", "n2:3")
    assert reply.body == {"error": {"type": "exception", "reason": "boom"}, "status": 500}


def test_a_batch_is_an_array_of_envelopes_read_back_in_order():
    envelopes = [_env(id=f"n1:{i}", lc=i) for i in range(3)]
    data = encode_batch([encode(env) for env in envelopes])
    assert msgpack.unpackb(data)[1] == msgpack.unpackb(encode(envelopes[1]))
    assert decode_batch(data) == envelopes
    assert decode_batch(encode_batch([])) == []


@pytest.mark.parametrize("data,reason", [
    (msgpack.packb({"a": 1}), "a batch must be a msgpack array, got dict"),
    (msgpack.packb([GOOD, [*GOOD[:-1], []]]), "field [body] must be a map"),
    (msgpack.packb([GOOD, 7]), "frame must be a msgpack array, got int"),
    (b"\xc1", "invalid msgpack frame"),
])
def test_a_bad_batch_is_a_bad_frame(data, reason):
    with pytest.raises(BadFrame, match=re.escape(reason)):
        decode_batch(data)
