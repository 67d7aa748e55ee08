"""Compatibility profiles: which Elasticsearch generation the API behaves like.

One frozen `Profile` per generation (5, 6, 7, 8, 9) holds every difference the rest of the code
asks about: version numbers for `GET /`, default shard counts, which URLs and types exist, which
response fields are present, how a conflict's reason is prefixed, which version types a write
may use, and the routing formula. Nothing else in the code compares profile numbers for these.
Each answer is worked out once per profile (`cached_property`): every request asks many.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Profile:
    major: int
    number: str  # the version number `GET /` reports
    lucene: str
    build_hash: str
    build_date: str
    min_wire: str
    min_index: str

    @cached_property
    def default_shards(self) -> int:
        return 5 if self.major <= 6 else 1

    # -- URLs and types --------------------------------------------------------------------
    @cached_property
    def custom_types(self) -> bool:
        """Whether `/{index}/{type}/{id}` with a type of the user's choice exists."""
        return self.major <= 7

    @cached_property
    def doc_endpoint(self) -> bool:
        """Whether `_doc` is a valid type name (5.x rejects names starting with `_`)."""
        return self.major >= 6

    @cached_property
    def typeless_endpoints(self) -> bool:
        """Whether `/{index}/_create/{id}` and `/{index}/_update/{id}` exist."""
        return self.major >= 7

    @cached_property
    def one_type_per_index(self) -> bool:
        return self.major >= 6

    # -- response bodies -------------------------------------------------------------------
    @cached_property
    def type_in_responses(self) -> bool:
        return self.major <= 7

    @cached_property
    def seq_no_in_responses(self) -> bool:
        return self.major >= 6

    @cached_property
    def created_found_flags(self) -> bool:
        """5.x carries `created` (index) and `found` (delete) booleans in write responses."""
        return self.major == 5

    @cached_property
    def product_header(self) -> bool:
        """7.14+ answers every request with `X-Elastic-Product: Elasticsearch`."""
        return self.major >= 7

    @cached_property
    def build_flavor(self) -> bool:
        return self.major >= 6

    @cached_property
    def health_waits_for_no_initializing_shards(self) -> bool:
        """`_cluster/health?wait_for_no_initializing_shards` (6.2+; 5.x rejects the parameter)."""
        return self.major >= 6

    # -- media types -------------------------------------------------------------------------
    @cached_property
    def vendor_media_types(self) -> bool:
        """Whether `application/vnd.elasticsearch+json` is a known media type (7.x reads it as
        JSON, dropping `compatible-with`; 5.x guesses every body, 6.x refuses it with 406)."""
        return self.major >= 7

    @cached_property
    def rest_api_versions(self) -> tuple[int, int] | None:
        """The `compatible-with=N` majors a request may ask for (8.0+: this major or the
        previous one, else 400 `media_type_header_exception`; a vendor-type request is answered
        `application/vnd.elasticsearch+json;compatible-with=N`); None: not validated, and
        answered in plain JSON."""
        return (self.major, self.major - 1) if self.major >= 8 else None

    @cached_property
    def json_media_type(self) -> str:
        """The Content-Type of a JSON answer to a plain request."""
        return "application/json; charset=UTF-8" if self.major <= 7 else "application/json"

    # -- versioning rules --------------------------------------------------------------------
    @cached_property
    def internal_version_occ(self) -> bool:
        """Whether an explicit internal `version` may guard a write (rejected from 7.0)."""
        return self.major <= 6

    @cached_property
    def force_version_type(self) -> bool:
        return self.major == 5

    @cached_property
    def seq_no_cas(self) -> bool:
        """`if_seq_no` / `if_primary_term` (6.6+)."""
        return self.major >= 6

    @cached_property
    def replicas_order_by_seq_no(self) -> bool:
        return self.major >= 6

    @cached_property
    def says_document_does_not_exist(self) -> bool:
        """6.x+ explains an internal write to a missing doc as `document does not exist`."""
        return self.major >= 6

    @cached_property
    def duplicate_keys_rejected(self) -> bool:
        """6.0 turned on strict duplicate-key detection in JSON bodies."""
        return self.major >= 6

    def conflict_prefix(self, doc_type: str, doc_id: str) -> str:
        """`[type][id]` in 5.x and 6.x, `[id]` from 7.x (reference §1.7)."""
        return f"[{doc_type}][{doc_id}]" if self.major <= 6 else f"[{doc_id}]"

    def get_request(self, index: str, doc_type: str, doc_id: str, routing: str | None) -> str:
        """GetRequest.toString, as a failed read names it: typed up to 7.x, typeless from 8.0."""
        where = f"[{index}][{doc_type}][{doc_id}]" if self.major <= 7 else f"[{index}][{doc_id}]"
        return f"get {where}: routing [{'null' if routing is None else routing}]"

    @cached_property
    def read_allowed_states(self) -> str:
        """IndexShard's readAllowedStates as a shard refusing a read prints them (5.x still had
        the RELOCATED shard state)."""
        return "[POST_RECOVERY, STARTED, RELOCATED]" if self.major == 5 else \
            "[POST_RECOVERY, STARTED]"

    def no_such_index(self, index: str) -> str:
        return "no such index" if self.major <= 6 else f"no such index [{index}]"

    # -- reads ----------------------------------------------------------------------------
    @cached_property
    def source_filter_params(self) -> tuple[tuple[str, str], ...]:
        """The `_source` includes/excludes URL parameters, the first given winning: up to 6.x
        the singular `_source_include` over the plural (both read), 7.0 the plural only."""
        plural = ("_source_includes", "_source_excludes")
        return (("_source_include", "_source_exclude"), plural) if self.major <= 6 else (plural,)

    @cached_property
    def singular_source_params_deprecated(self) -> bool:
        """6.6 deprecated `_source_include`/`_source_exclude` (7.0 removed them)."""
        return self.major == 6

    def source_not_found(self, index: str, doc_type: str, doc_id: str) -> str | None:
        """The `resource_not_found_exception` reason of `_source` for a missing document
        (5.x answers a bare 404)."""
        if self.major == 5:
            return None
        if self.major <= 7:
            return f"Document not found [{index}]/[{doc_type}]/[{doc_id}]"
        return f"Document not found [{index}]/[{doc_id}]"

    def text_sort_refused(self, field_name: str) -> str:
        """Why sorting on a `text` field fails (no fielddata), as each generation words it."""
        if self.major <= 6:
            return (f"Fielddata is disabled on text fields by default. Set fielddata=true on "
                    f"[{field_name}] in order to load fielddata in memory by uninverting the "
                    "inverted index. Note that this can however use significant memory. "
                    "Alternatively use a keyword field instead.")
        return ("Text fields are not optimised for operations that require per-document field "
                "data like aggregations and sorting, so these operations are disabled by "
                "default. Please use a keyword field instead. Alternatively, set fielddata=true "
                f"on [{field_name}] in order to load field data by uninverting the inverted "
                "index. Note that this can use significant memory.")

    @cached_property
    def wrong_type_is_missing(self) -> bool:
        """6.x/7.x: a GET naming a type the index does not have finds nothing (404)."""
        return self.major in (6, 7)

    # -- deprecation warnings ----------------------------------------------------------------
    def warning(self, text: str, now: float) -> str:
        """The `Warning` response header of a deprecation: `299 Elasticsearch-<version>-<hash>
        "<text>"`, with the date appended up to 6.x (HeaderWarning / DeprecationLogger)."""
        agent = f'299 Elasticsearch-{self.number}-{self.build_hash} "{text}"'
        if self.major >= 7:
            return agent
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
        return f'{agent} "{date}"'

    @cached_property
    def internal_occ_deprecated(self) -> bool:
        """6.7+ warns about an explicit internal `version` on a write (7.0 refuses it)."""
        return self.major == 6

    @cached_property
    def doc_means_the_index_type(self) -> bool:
        """6.x: `_doc` in a delete or update URL targets the index's one type, whatever its
        name (the answer still says `_doc`)."""
        return self.major == 6

    @cached_property
    def destructive_requires_name(self) -> bool:
        """8.0 made `action.destructive_requires_name` default to true: no `DELETE /_all`."""
        return self.major >= 8

    @cached_property
    def write_index_message(self) -> bool:
        """6.4 added write indices: a write through a multi-index alias names that."""
        return self.major >= 6

    @cached_property
    def require_alias(self) -> bool:
        """The `require_alias` write parameter (7.10+)."""
        return self.major >= 7

    @cached_property
    def routing_shards_setting(self) -> bool:
        """`index.number_of_routing_shards` exists from 6.1."""
        return self.major >= 6

    # -- the REST layer's other differences ---------------------------------------------------
    @cached_property
    def versioned_write_needs_id(self) -> bool:
        """7.0+: a write without an id may not set a version or a version type."""
        return self.major >= 7

    def id_too_long(self, doc_id: str, size: int) -> str:
        """The validation message of an id over 512 bytes (7.0+ names the id)."""
        if self.major >= 7:
            return f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: {size}"
        return f"id is too long, must be no longer than 512 bytes but was: {size}"

    @cached_property
    def delete_creates_index(self) -> bool:
        """Up to 6.x a delete in a missing index creates it; 7.0+ answers 404."""
        return self.major <= 6

    @cached_property
    def wrong_method_is_405(self) -> bool:
        """6.0+: a known URL with another method is a 405 naming the allowed ones."""
        return self.major >= 6

    @cached_property
    def content_type_required(self) -> bool:
        """6.0+: a request body needs a Content-Type header (406 otherwise)."""
        return self.major >= 6

    @cached_property
    def create_index_names_index(self) -> bool:
        """6.0+: the answer to an index creation names the index."""
        return self.major >= 6

    @cached_property
    def typeless_mappings(self) -> bool:
        """7.0+: `GET /{index}` shows mappings without a type level."""
        return self.major >= 7

    @cached_property
    def primary_replica_preferences(self) -> bool:
        """Up to 6.x: `_primary`, `_primary_first`, `_replica`, `_replica_first` exist."""
        return self.major <= 6

    @cached_property
    def shards_skipped(self) -> bool:
        """6.0+: a search's `_shards` counts the skipped shards."""
        return self.major >= 6

    @cached_property
    def hits_total_object(self) -> bool:
        """7.0+: `hits.total` is `{value, relation}` (a number with `rest_total_hits_as_int`),
        and `track_total_hits` decides how far it counts."""
        return self.major >= 7

    def hit_type(self, doc_type: str, index_type: str | None) -> str:
        """A search hit's `_type`: 5.x the document's own, 6.x the index's one type, then
        `_doc`."""
        if self.major == 5:
            return doc_type
        if self.major == 6:
            return index_type or "_doc"
        return "_doc"

    # -- `_update` ----------------------------------------------------------------------------
    @cached_property
    def update_body_strict(self) -> bool:
        """7.0 parses the update body with an ObjectParser: unknown fields are errors (ignored
        before)."""
        return self.major >= 7

    @cached_property
    def update_rejects_version_params(self) -> bool:
        """7.0's RestUpdateAction refuses `version` / `version_type` outright."""
        return self.major >= 7

    @cached_property
    def noop_has_seq_no(self) -> bool:
        """7.4 added `_seq_no` / `_primary_term` to noop answers."""
        return self.major >= 7

    @cached_property
    def update_cas_from_read(self) -> bool:
        """7.0's UpdateHelper guards the write with the read's seq_no; 5.x/6.x with its
        version."""
        return self.major >= 7

    def document_missing_prefix(self, doc_type: str, doc_id: str) -> str:
        """DocumentMissingException: `[type][id]` up to 7.x, `[id]` from 8.0."""
        return f"[{doc_type}][{doc_id}]" if self.major <= 7 else f"[{doc_id}]"

    @cached_property
    def update_validates_versions(self) -> bool:
        """Up to 6.x the update request validates its type, version type and version
        itself (7.0+ refuses versions outright)."""
        return self.major <= 6

    @cached_property
    def update_upsert_with_version_refused(self) -> bool:
        """6.x: an update may not carry both an upsert and a version."""
        return self.major == 6

    @cached_property
    def update_legacy_params(self) -> bool:
        """Up to 6.x `_update` accepts `parent`, `fields` and `lang`."""
        return self.major <= 6

    @cached_property
    def include_type_name_param(self) -> bool:
        """6.x and 7.x accept `include_type_name`."""
        return self.major in (6, 7)

    # -- `_bulk` and `_mget` -------------------------------------------------------------------
    @cached_property
    def legacy_field_names(self) -> bool:
        """Up to 6.x, bulk and mget entries also accept the underscore and camel-case
        spellings (`_routing`, `_version`, `versionType`, ...); 7.0 removed them."""
        return self.major <= 6

    @cached_property
    def timestamp_and_ttl(self) -> bool:
        """5.x: bulk actions accept `_timestamp` and `_ttl`."""
        return self.major == 5

    @cached_property
    def fields_param(self) -> bool:
        """5.x: `_bulk` accepts `fields` (a list) on an action line and in the URL."""
        return self.major == 5

    @cached_property
    def bulk_needs_final_newline(self) -> bool:
        """6.0 refuses a bulk body whose last line has no newline; 5.x drops that line."""
        return self.major >= 6

    @cached_property
    def action_line_must_end(self) -> bool:
        """8.x refuses anything after the action's object on an action line."""
        return self.major >= 8

    @cached_property
    def doc_is_the_default_type(self) -> bool:
        """7.0+: an entry without a type means `_doc` (5.x/6.x: the URL's type, or none)."""
        return self.major >= 7

    @cached_property
    def url_type_param(self) -> bool:
        """Up to 6.x, `_bulk` and `_mget` read a default type from a `type` parameter."""
        return self.major <= 6

    @cached_property
    def mget_skips_simple_values(self) -> bool:
        """5.x skips a top-level value of an mget body such as `"index": "test_2"`."""
        return self.major == 5

    @cached_property
    def mget_null_type_when_unmapped(self) -> bool:
        """7.x answers `_type: null` for an mget entry in a missing or unmapped index."""
        return self.major == 7

    # -- messages of the engine and the master ------------------------------------------------
    def unknown_query(self, kind: str) -> str:
        """The parsing_exception reason for a query type Elasticsearch does not have."""
        return f"no [query] registered for [{kind}]" if self.major == 5 else (
            f"unknown query [{kind}]")

    @cached_property
    def big_integer_unmappable(self) -> bool:
        """Up to 6.x an integer beyond a `long` cannot be mapped at all (7.0+: a `long` field
        refuses it)."""
        return self.major <= 6

    def field_parse_error(self, field: str, kind: str, doc_id: str, preview: str) -> str:
        """FieldMapper.parse's message in each generation."""
        if self.major >= 7:
            return (f"failed to parse field [{field}] of type [{kind}] in document with id "
                    f"'{doc_id}'. Preview of field's value: '{preview}'")
        if self.major == 6:
            return (f"failed to parse field [{field}] of type [{kind}] in document with id "
                    f"'{doc_id}'")
        return f"failed to parse [{field}]"

    @cached_property
    def bulk_request_names_index(self) -> bool:
        """5.x's BulkShardRequest.toString names the index; 6.0+ the shard."""
        return self.major == 5

    @cached_property
    def search_idle(self) -> bool:
        """7.0+: a shard without an explicit refresh interval goes search-idle."""
        return self.major >= 7

    @cached_property
    def index_exists_type(self) -> str:
        """The error type of creating an index that exists."""
        return ("index_already_exists_exception" if self.major == 5
                else "resource_already_exists_exception")

    @cached_property
    def alias_error_names_data_streams(self) -> bool:
        """7.9+: an alias named as an index is refused in words that name data streams."""
        return self.major >= 7

    # -- routing -----------------------------------------------------------------------------
    def routing_num_shards(self, number_of_shards: int) -> int:
        """Pre-7.0 indices route over the shard count; 7.0+ over a larger power-of-two multiple."""
        if self.major <= 6:
            return number_of_shards
        log2_shards = math.ceil(math.log2(number_of_shards)) if number_of_shards > 1 else 0
        return number_of_shards << max(1, 10 - log2_shards)


PROFILES = {
    5: Profile(5, "5.6.16", "6.6.1", "3a740d1", "2019-03-13T15:33:36.565Z", "5.6.0", "5.0.0"),
    6: Profile(6, "6.8.23", "7.7.3", "4f67856", "2022-01-06T21:30:50.087716Z", "5.6.0", "5.0.0"),
    7: Profile(7, "7.17.28", "8.11.3", "139cb5a961d8de68b8e02c45cc47f5289a3623af",
               "2025-02-20T09:05:31.349013687Z", "6.8.0", "6.0.0-beta1"),
    8: Profile(8, "8.19.3", "9.12.2", "7ca7e4c2f4ec4e0a4d0fd5ddbcb4d7e8f7f2f8b3",
               "2025-08-26T12:00:00.000000000Z", "7.17.0", "7.0.0"),
    9: Profile(9, "9.1.5", "10.2.2", "90ee222e7e0136dd8ddbb34015538f3a00c129b7",
               "2025-10-02T12:00:00.000000000Z", "8.19.0", "8.0.0"),
}


def profile(major: int) -> Profile:
    return PROFILES[major]
