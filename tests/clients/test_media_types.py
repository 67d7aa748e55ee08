"""What the clients need of the server's media types, per profile, through the dispatcher:
the `compatible-with=N` check of 8.0+ (RestCompatibleVersionHelper), the answer's
Content-Type, and which request media types each generation reads."""

from __future__ import annotations

import pytest

from occsim.node.api.routes import dispatch, parse_media_type
from occsim.node.rest import Request

VND = "application/vnd.elasticsearch+json; compatible-with={}"
BODY = b'{"a": 1}'


async def call(api, method="GET", path="/", *, accept=None, content_type=None, body=b""):
    headers = {}
    if accept is not None:
        headers["accept"] = accept
    if content_type is not None:
        headers["content-type"] = content_type
    return await dispatch(api.node, Request(method, path, {}, headers, body))


@pytest.mark.parametrize("major, content_type", [
    (5, "application/json; charset=UTF-8"), (6, "application/json; charset=UTF-8"),
    (7, "application/json; charset=UTF-8"), (8, "application/json"), (9, "application/json")])
async def test_plain_requests_are_answered_in_plain_json(make_api, major, content_type):
    api = await make_api(major)
    response = await call(api, accept="application/json")
    assert (response.status, response.headers["Content-Type"]) == (200, content_type)
    assert (await call(api)).headers["Content-Type"] == content_type


@pytest.mark.parametrize("major, asked", [(8, 8), (8, 7), (9, 9), (9, 8)])
async def test_a_compatible_request_is_answered_in_the_vendor_type(make_api, major, asked):
    api = await make_api(major)
    response = await call(api, "PUT", "/i/_doc/1", accept=VND.format(asked),
                          content_type=VND.format(asked), body=BODY)
    assert response.status == 201
    assert response.headers["Content-Type"] == (
        f"application/vnd.elasticsearch+json;compatible-with={asked}")
    assert response.headers["X-elastic-product"] == "Elasticsearch"


@pytest.mark.parametrize("major, asked, versions", [(8, 9, "8 or 7"), (8, 6, "8 or 7"),
                                                    (9, 7, "9 or 8"), (9, 10, "9 or 8")])
async def test_a_major_the_profile_cannot_serve_is_refused(make_api, major, asked, versions):
    api = await make_api(major)
    accept = VND.format(asked)
    response = await call(api, "PUT", "/i/_doc/1", accept=accept,
                          content_type=VND.format(asked), body=BODY)
    reason = "Invalid media-type value on headers [Accept, Content-Type]"
    assert (response.status, response.headers["Content-Type"]) == (400, "application/json")
    assert response.body == {"error": {
        "root_cause": [{"type": "media_type_header_exception", "reason": reason}],
        "type": "media_type_header_exception", "reason": reason,
        "caused_by": {"type": "status_exception",
                      "reason": f"Accept version must be either version {versions}, but found "
                                f"{asked}. Accept={accept}"}}, "status": 400}
    assert "i" not in api.node.state["indices"]  # refused before anything ran


async def test_the_headers_must_agree_when_there_is_a_body(make_api):
    api = await make_api(8)
    cases = [
        (VND.format(8), VND.format(9), "Content-Type version must be either version 8 or 7, "
                                       f"but found 9. Content-Type={VND.format(9)}"),
        (VND.format(8), VND.format(7), "A compatible version is required on both Content-Type "
         "and Accept headers if either one has requested a compatible version and the "
         f"compatible versions must match. Accept={VND.format(8)}, "
         f"Content-Type={VND.format(7)}"),
        (None, VND.format(8), "A compatible version is required on both Content-Type and "
         "Accept headers if either one has requested a compatible version. Accept=null, "
         f"Content-Type={VND.format(8)}"),
    ]
    for accept, content_type, reason in cases:
        response = await call(api, "PUT", "/i/_doc/1", accept=accept,
                              content_type=content_type, body=BODY)
        assert response.status == 400
        assert response.body["error"]["caused_by"]["reason"] == reason
    # without a body only Accept counts
    response = await call(api, accept=VND.format(8), content_type="application/json")
    assert response.status == 200


async def test_an_unparsable_media_type_is_refused_from_8(make_api):
    api = await make_api(8)
    response = await call(api, "PUT", "/i/_doc/1", content_type="json", body=BODY)
    assert response.status == 400
    assert response.body["error"]["reason"] == (
        "Invalid media-type value on headers [Content-Type]")
    assert response.body["error"]["caused_by"] == {"type": "illegal_argument_exception",
                                                   "reason": "invalid media-type [json]"}
    api7 = await make_api(7)
    response = await call(api7, "PUT", "/i/_doc/1", content_type="json", body=BODY)
    assert (response.status, response.body["error"]) == (
        406, "Content-Type header [json] is not supported")


async def test_7x_reads_vendor_types_as_json_without_checking_the_version(make_api):
    api = await make_api(7)
    for asked in (7, 8):
        response = await call(api, "PUT", f"/i/_doc/{asked}", accept=VND.format(asked),
                              content_type=VND.format(asked), body=BODY)
        assert response.status == 201
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"


async def test_6x_does_not_know_vendor_types(make_api):
    api = await make_api(6)
    response = await call(api, "PUT", "/i/_doc/1", content_type=VND.format(7), body=BODY)
    assert (response.status, response.body["error"]) == (
        406, f"Content-Type header [{VND.format(7)}] is not supported")


def test_parse_media_type():
    parsed = parse_media_type("Application/VND.Elasticsearch+JSON; Compatible-With=8 ;q=1")
    assert (parsed.type, parsed.params, parsed.compatible_with) == (
        "application/vnd.elasticsearch+json", {"compatible-with": "8", "q": "1"}, 8)
    assert parse_media_type(None) is None
    assert parse_media_type("*/*") is None
    assert parse_media_type("application/json, text/plain") is None  # a media range
    for bad, message in (("json", "invalid media-type [json]"),
                         ("application/json; charset", "invalid parameters for header "
                                                       "[application/json; charset]")):
        with pytest.raises(ValueError, match=r"^" + message.replace("[", r"\[")
                           .replace("]", r"\]") + "$"):
            parse_media_type(bad)
