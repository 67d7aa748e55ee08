"""The message envelope and its wire codec.

This module owns what one message between two parties looks like (`Envelope`) and how it is
turned into a frame of bytes and back. The wire format is one msgpack array:

    [PROTOCOL_VERSION, id, src, dst, kind, lc, reply_to, body]

and a batch of messages (one websocket message) is one msgpack array of such arrays, each
encoded on its own (`encode_batch`) and read back in one pass (`decode_batch`).

`decode` is strict: anything that is not exactly such an array of valid fields raises
`BadFrame` (a ValueError) with a message that says what was wrong, and nothing else escapes.
`encode` carries any str, a lone UTF-16 surrogate included (Elasticsearch keeps one in a
document as sent, so the wire must carry it to the replicas); a value msgpack cannot hold (an
integer beyond 64 bits, a set) raises `Unencodable` for that message alone, and `error_reply`
is the answer a reply that cannot be encoded becomes. It is pure: no I/O, no clocks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgpack

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 64 * 1024 * 1024  # default decode limit

_UNPACK_ERRORS = {msgpack.FormatError: "not valid msgpack", msgpack.StackError: "nested too deeply"}
_FIELDS = ("version", "id", "src", "dst", "kind", "lc", "reply_to", "body")
# Strings travel as UTF-8, lone surrogates as their 3-byte form (`surrogatepass`) and back.
_TEXT = "surrogatepass"
_PACKER = msgpack.Packer(use_bin_type=True)  # for array headers
_PACK_ERRORS = (TypeError, ValueError, OverflowError)  # what msgpack raises for a bad value


@dataclass(slots=True)
class Envelope:
    """One message: routing, Lamport clock, optional request id it answers, and a payload."""

    id: str  # message id, e.g. "n1:17"
    src: str  # sender name ("n1", "manager")
    dst: str  # receiver name
    kind: str  # "replicate", "replicate_ok", "forward", ... (any non-empty str)
    body: dict  # msgpack-able payload (str keys)
    lc: int = 0  # sender's Lamport clock
    reply_to: str | None = None  # for replies: the id of the request answered


class BadFrame(ValueError):
    """A frame that is not a valid envelope of this protocol."""


class TransportError(Exception):
    """A message could not be delivered or answered (timeout, unreachable, partition)."""


class Unencodable(TransportError):
    """A message whose body msgpack cannot hold: it fails alone, its link carries on."""


def packer(default: Callable[[object], object] | None = None) -> Callable[[object], bytes]:
    """A `pack` that writes strings as frames carry them: strict UTF-8, the fast way, and
    `surrogatepass` only for a value holding a lone surrogate; `default` (msgpack's) turns a
    value msgpack cannot hold into one it can."""
    strict = msgpack.Packer(use_bin_type=True, default=default).pack
    text = msgpack.Packer(use_bin_type=True, unicode_errors=_TEXT, default=default).pack

    def pack(value: object) -> bytes:
        try:
            return strict(value)
        except UnicodeEncodeError:  # a lone surrogate (the packer resets itself)
            return text(value)
    return pack


_pack = packer()


def encode(env: Envelope) -> bytes:
    """Serialise an envelope to one msgpack frame; `Unencodable` if its body cannot be."""
    try:
        return _pack([PROTOCOL_VERSION, env.id, env.src, env.dst, env.kind, env.lc,
                      env.reply_to, env.body])
    except _PACK_ERRORS as exc:
        raise Unencodable(f"[{env.kind}] to [{env.dst}] cannot be encoded: {exc}") from None


def error_reply(env: Envelope, reason: str) -> Envelope:
    """What a reply that cannot be encoded is sent as: an error its requester gets at once."""
    body = {"error": {"type": "exception", "reason": reason}, "status": 500}
    return Envelope(env.id, env.src, env.dst, env.kind, body, env.lc, env.reply_to)


def pack(value: object) -> bytes:
    """Serialise one value as the frame codec does; `Unencodable` if msgpack cannot hold it."""
    try:
        return _pack(value)
    except _PACK_ERRORS as exc:
        raise Unencodable(f"cannot be encoded: {exc}") from None


def pack_array_header(length: int) -> bytes:
    """The start of an array of `length` values, to be followed by each value `pack`ed."""
    return _PACKER.pack_array_header(length)


def unpack(data: bytes) -> object:
    """Read back a value `pack` wrote inside the cluster (a node's trace events, a simulated
    message's body): the checks of `decode` are for frames from outside."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors=_TEXT)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad_field(name: str, expected: str, value: object) -> BadFrame:
    return BadFrame(f"field [{name}] must be {expected}, got {type(value).__name__} {_show(value)}")


def encode_batch(frames: list[bytes]) -> bytes:
    """Envelopes `encode`d one by one, joined as one batch: an array of them."""
    return _PACKER.pack_array_header(len(frames)) + b"".join(frames)


def decode(frame: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Envelope:
    """Parse one frame into an envelope; raise BadFrame for anything invalid."""
    return _envelope(_unpack_frame(frame, max_bytes))


def decode_batch(data: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> list[Envelope]:
    """Parse a batch into its envelopes, in order; raise BadFrame for anything invalid."""
    items = _unpack_frame(data, max_bytes)
    if not isinstance(items, list):
        raise BadFrame(f"a batch must be a msgpack array, got {type(items).__name__}")
    return [_envelope(item) for item in items]


def _unpack_frame(frame: bytes, max_bytes: int) -> object:
    """Unpack bytes from outside, bounded by their size; BadFrame if they are not msgpack."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise BadFrame(f"frame must be bytes, got {type(frame).__name__}")
    size = memoryview(frame).nbytes
    if size > max_bytes:
        raise BadFrame(f"frame of {size} bytes exceeds the limit of {max_bytes} bytes")
    # A frame of `size` (<= max_bytes) bytes cannot hold more than `size` items, so these limits
    # stop a tiny frame that declares a huge array or string from making the unpacker allocate
    # for it. (unpackb takes no max_buffer_size: the size check above is that limit.)
    limit = size
    try:
        obj = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=False,
            unicode_errors=_TEXT,
            max_str_len=limit,
            max_bin_len=limit,
            max_ext_len=limit,
            max_array_len=limit,
            max_map_len=limit // 2,
        )
    except msgpack.ExtraData as e:
        raise BadFrame(f"extra data after the envelope ({len(e.extra)} trailing bytes)") from None
    except Exception as e:  # the unpacker raises several types; callers get only BadFrame
        detail = str(e) or _UNPACK_ERRORS.get(type(e), type(e).__name__)
        raise BadFrame(f"invalid msgpack frame of {size} bytes: {detail}") from None
    return obj


def _envelope(obj: object) -> Envelope:
    """The envelope an unpacked frame holds; BadFrame if it is not exactly one."""
    if not isinstance(obj, list):
        raise BadFrame(f"frame must be a msgpack array, got {type(obj).__name__}")
    if not obj:
        raise BadFrame("frame is an empty array, expected 8 fields")
    version = obj[0]
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise BadFrame(
            f"unknown protocol version [{_show(version)}], this node speaks [{PROTOCOL_VERSION}]"
        )
    if len(obj) != len(_FIELDS):
        raise BadFrame(f"frame has {len(obj)} fields, expected {len(_FIELDS)} {list(_FIELDS)}")

    _, id_, src, dst, kind, lc, reply_to, body = obj
    if not (id_.__class__ is src.__class__ is dst.__class__ is kind.__class__ is str
            and id_ and src and dst and kind):  # (what msgpack gives: one test for four)
        for name, value in (("id", id_), ("src", src), ("dst", dst), ("kind", kind)):
            if not isinstance(value, str) or not value:
                raise _bad_field(name, "a non-empty str", value)
    if type(lc) is not int or lc < 0:
        raise _bad_field("lc", "a non-negative int", lc)
    if reply_to is not None and not isinstance(reply_to, str):
        raise _bad_field("reply_to", "a str or nil", reply_to)
    if not isinstance(body, dict):
        raise _bad_field("body", "a map", body)
    return Envelope(id_, src, dst, kind, body, lc, reply_to)
