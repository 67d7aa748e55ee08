"""Elasticsearch's VersionType rules: which versions are valid, when a write or read conflicts,
what version a write produces, and the words a conflict is explained with.

Pure functions over integers, exactly as reference §1 states them. The sentinels are
Elasticsearch's own (`Versions.MATCH_ANY` and friends).
"""

from __future__ import annotations

from enum import Enum

from occsim.node.errors import IllegalArgument

MAX_VERSION = 2**63 - 1  # a Java long: no version above it is ever stored or answered
MATCH_ANY = -3  # no version given: any current version is fine
UNASSIGNED_SEQ_NO = -2  # no if_seq_no given
UNASSIGNED_PRIMARY_TERM = 0  # no if_primary_term given
NOT_FOUND = -1  # the document is absent (or its tombstone expired)
MATCH_DELETED = -4  # op_type=create: only if the document is absent or deleted


class VersionType(Enum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    EXTERNAL_GTE = "external_gte"
    FORCE = "force"

    @classmethod
    def parse(cls, text: str) -> VersionType:
        """Parse a `version_type` parameter; ValueError carries Elasticsearch's own message."""
        if text == "external_gt":
            return cls.EXTERNAL
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"No version type match [{text}]") from None

    def for_replication(self) -> VersionType:
        """5.x replicas check a primary's internal version with the external rule."""
        return EXTERNAL if self is INTERNAL else self


# VersionType by value: what `VersionType(value)` answers for a valid one, without the Enum
# machinery (half a microsecond; a write asks it on the primary and on each replica)
VERSION_TYPES = {vt.value: vt for vt in VersionType}
# The members by plain name, for the rules a write goes through a dozen times (a member read
# through its Enum class costs a metaclass lookup, 70 ns in Python 3.11)
INTERNAL, EXTERNAL, EXTERNAL_GTE, FORCE = (VersionType.INTERNAL, VersionType.EXTERNAL,
                                           VersionType.EXTERNAL_GTE, VersionType.FORCE)


def valid_for_writes(vt: VersionType, version: int) -> bool:
    if vt is INTERNAL:
        return version > 0 or version in (MATCH_ANY, MATCH_DELETED)
    return version >= 0


def valid_for_reads(vt: VersionType, version: int) -> bool:
    if vt is INTERNAL:
        return version > 0 or version == MATCH_ANY
    return version >= 0 or version == MATCH_ANY


def conflicts_for_writes(vt: VersionType, current: int, expected: int, deleted: bool) -> bool:
    """Whether a write expecting `expected` conflicts with the `current` version."""
    if vt is INTERNAL:
        if expected == MATCH_ANY:
            return False
        if expected == MATCH_DELETED:
            return not deleted
        return current != expected
    if current == NOT_FOUND:
        return False
    if expected == MATCH_ANY:
        return vt is not FORCE
    if vt is EXTERNAL:
        return current >= expected
    if vt is EXTERNAL_GTE:
        return current > expected
    return False  # FORCE


def conflicts_for_reads(vt: VersionType, current: int, expected: int) -> bool:
    """Reads are exact-match for every type but force."""
    if expected == MATCH_ANY or vt is FORCE:
        return False
    return current != expected


def new_version(vt: VersionType, current: int, expected: int) -> int:
    """The version a successful write stores.

    An internal write to a document at version 2^63-1 is refused (400): occsim's choice, as
    Elasticsearch's increment has no guard and would wrap to a negative version."""
    if vt is INTERNAL:
        if current == MAX_VERSION:
            raise IllegalArgument(f"version [{current}] is the largest a document can have: an "
                                  "internal write cannot increment it (occsim refuses it; "
                                  "Elasticsearch would wrap to a negative version)")
        return 1 if current == NOT_FOUND else current + 1
    return expected


def explain_write_conflict(
    vt: VersionType, current: int, expected: int, *, says_not_found: bool
) -> str:
    """The text after `version conflict, ` (reference §1.6).

    `says_not_found` is the 6.x+ wording for an internal write to a missing document.
    """
    if vt is INTERNAL:
        if expected == MATCH_DELETED:
            return f"document already exists (current version [{current}])"
        if current == NOT_FOUND and says_not_found:
            return f"document does not exist (expected version [{expected}])"
        return f"current version [{current}] is different than the one provided [{expected}]"
    if vt is EXTERNAL:
        return f"current version [{current}] is higher or equal to the one provided [{expected}]"
    return f"current version [{current}] is higher than the one provided [{expected}]"


def explain_read_conflict(current: int, expected: int) -> str:
    return f"current version [{current}] is different than the one provided [{expected}]"


def explain_cas_conflict(
    if_seq_no: int, if_primary_term: int, current: tuple[int, int] | None
) -> str:
    """The seq_no compare-and-set explanation (reference §1.7)."""
    head = f"required seqNo [{if_seq_no}], primary term [{if_primary_term}]."
    if current is None:
        return head + " but no document was found"
    return head + f" current document has seqNo [{current[0]}] and primary term [{current[1]}]"
