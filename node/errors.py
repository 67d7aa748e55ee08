"""Errors a node answers with, shaped exactly like Elasticsearch's.

    ElasticsearchError            {"error": {"root_cause": [...], "type", "reason", ...}, "status"}
    ├── VersionConflict           409 version_conflict_engine_exception (+ index_uuid, shard, index)
    ├── ValidationError           400 action_request_validation_exception, "Validation Failed: 1: …;"
    ├── IllegalArgument           400 illegal_argument_exception
    ├── ParseError                400 parse_exception / mapper_parsing_exception / ...
    ├── IndexNotFound             404 index_not_found_exception
    ├── NoShardAvailable          503 no_shard_available_action_exception (no copy could read)
    └── ...                       any other type is an ElasticsearchError with its own status
    RestError                     the REST layer's own plain shape: {"error": "<text>", "status"}

The engine raises the domain ones (`VersionConflict`, `StaleTerm`); the REST layer adds the
index and shard they concern and turns each into a response body.
"""

from __future__ import annotations


class ElasticsearchError(Exception):
    """An error with Elasticsearch's `type`, `reason`, HTTP status and extra fields."""

    status = 500
    type = "exception"

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        type: str | None = None,
        meta: dict | None = None,
        caused_by: dict | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.meta = dict(meta or {})
        self.caused_by = caused_by

    def cause(self) -> dict:
        """This error as one object of `root_cause` (no `caused_by`)."""
        return {"type": self.type, "reason": self.reason, **self.meta}

    def body(self) -> dict:
        error = {"root_cause": [self.cause()], **self.cause()}
        if self.caused_by:
            error["caused_by"] = self.caused_by
        return {"error": error, "status": self.status}

    def at(self, index: str, uuid: str, shard: int | None = None) -> ElasticsearchError:
        """Attach the index (and shard) the error concerns, in Elasticsearch's key order."""
        meta = {"index_uuid": uuid}
        if shard is not None:
            meta["shard"] = str(shard)
        meta["index"] = index
        self.meta = {**self.meta, **meta}
        return self


class VersionConflict(ElasticsearchError):
    """A write or read whose version or seq_no condition did not hold (409)."""

    status = 409
    type = "version_conflict_engine_exception"

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation

    def worded(self, prefix: str) -> VersionConflict:
        """Set the profile's full reason: `<prefix>: version conflict, <explanation>`."""
        self.reason = f"{prefix}: version conflict, {self.explanation}"
        return self


class StaleTerm(ElasticsearchError):
    """A replica refused an operation from a primary of an older term."""

    status = 500
    type = "illegal_state_exception"


class ValidationError(ElasticsearchError):
    """Request validation failed; reasons are numbered as Elasticsearch numbers them."""

    status = 400
    type = "action_request_validation_exception"

    def __init__(self, *messages: str) -> None:
        numbered = "".join(f"{i}: {m};" for i, m in enumerate(messages, 1))
        super().__init__(f"Validation Failed: {numbered}")


class IllegalArgument(ElasticsearchError):
    status = 400
    type = "illegal_argument_exception"


class ParseError(ElasticsearchError):
    status = 400
    type = "parse_exception"


class IndexNotFound(ElasticsearchError):
    status = 404
    type = "index_not_found_exception"

    def __init__(self, index: str, reason: str) -> None:
        super().__init__(
            reason,
            meta={"resource.type": "index_or_alias", "resource.id": index,
                  "index_uuid": "_na_", "index": index},
        )


class NoShardAvailable(ElasticsearchError):
    """No copy of a shard could serve a read (503). When a copy refused it, that refusal is
    the `caused_by` and, as Elasticsearch guesses root causes down the cause chain, the
    `root_cause`."""

    status = 503
    type = "no_shard_available_action_exception"

    def body(self) -> dict:
        body = super().body()
        if self.caused_by:
            body["error"]["root_cause"] = [self.caused_by]
        return body


class RestError(Exception):
    """An error of the REST layer itself, whose body is a plain string."""

    def __init__(self, status: int, message: str, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": self.message, "status": self.status}
