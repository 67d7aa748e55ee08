"""Console files: the parser on tricky input, the runner with a fake sender and as a scenario
actor on a real node, and `occsim console FILE --up` answering the seed documents' requests
with their documented answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from occsim.cluster.runtime.client import Client, Reply
from occsim.cluster.errors import ConsoleSyntaxError
from occsim.cluster.stories.console import (Exchange, differences, format_exchange, parse,
                                            run_console)

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "scenarios" / "console"


# -- the parser ---------------------------------------------------------------------------------
def test_request_lines_bodies_and_comments():
    requests = parse("""
# a comment
// another one
PUT /test_index/test_type/8
{
  "test_field": "test"
}

    GET /test_index/test_type/8?preference=_only_local&pretty
get _cat/shards?v

DELETE /test_index/test_type/8
""")
    assert [(r.method, r.path, r.query, r.body) for r in requests] == [
        ("PUT", "/test_index/test_type/8", {}, {"test_field": "test"}),
        ("GET", "/test_index/test_type/8", {"preference": "_only_local", "pretty": ""}, None),
        ("GET", "/_cat/shards", {"v": ""}, None),
        ("DELETE", "/test_index/test_type/8", {}, None),
    ]
    assert [r.line for r in requests] == [4, 9, 10, 12]
    assert requests[1].target == "/test_index/test_type/8?preference=_only_local&pretty"
    assert not any(r.has_expected for r in requests)


def test_multi_line_and_indented_bodies_keep_their_text():
    requests = parse("""
        PUT /website/blog/1?version=1&version_type=external
        {
          "title": "My first blog entry",

          "tags": ["a",
                   "b"],
          "text":  "a # is not a comment in a body"
        }
""")
    (request,) = requests
    assert request.query == {"version": "1", "version_type": "external"}
    assert request.body == {"title": "My first blog entry", "tags": ["a", "b"],
                            "text": "a # is not a comment in a body"}
    assert request.body_text.splitlines()[0] == "{"
    assert request.body_text.splitlines()[1] == '  "title": "My first blog entry",'


def test_pasted_answers_become_expectations():
    requests = parse("""
PUT /i/t/1
{"a": 1}

{"_version": 1, "result": "created"}

# 请求：
GET /i/t/1
# 响应：
{
  "found": true
}
HEAD /i/t/2

POST /i/t/3
{"b": 2}
""")
    assert [(r.method, r.has_expected, r.expected) for r in requests] == [
        ("PUT", True, {"_version": 1, "result": "created"}),
        ("GET", True, {"found": True}),
        ("HEAD", False, None),
        ("POST", False, None),
    ]
    assert requests[3].body == {"b": 2}


def test_a_json_value_right_below_a_request_is_its_body():
    (search,) = parse('GET /i/_search\n{"query": {"match_all": {}}}\n')
    assert search.body == {"query": {"match_all": {}}} and not search.has_expected


def test_ndjson_bodies():
    (bulk,) = parse("""POST /_bulk
{"index": {"_index": "i", "_id": "1"}}
{"a": 1}
{"delete": {"_index": "i", "_id": "2"}}

{"errors": false}
""")
    assert bulk.ndjson and len(bulk.body) == 3
    assert bulk.expected == {"errors": False}


def test_query_strings_are_decoded():
    (request,) = parse("GET /my%20index/_doc/a%2Bb?routing=x%20y&q=a:b\n")
    assert request.path == "/my index/_doc/a+b"
    assert request.query == {"routing": "x y", "q": "a:b"}


@pytest.mark.parametrize("text, line, words", [
    ("Some prose here\nGET /\n", 1, "make prose a comment"),
    ("GET /\n\n{}\n\n{}\n", 5, "neither a body"),
])
def test_syntax_errors_name_the_line(text, line, words):
    with pytest.raises(ConsoleSyntaxError) as error:
        parse(text)
    assert str(error.value).startswith(f"line {line}:") and words in str(error.value)


@pytest.mark.parametrize("body, line, words", [
    ('{"a": 1', 4, "invalid JSON"),  # where the decoder gives up: a body may hold blank lines
    ('{"a": 1} trailing', 2, "unexpected text"),
    ("not json", 2, "a body must be JSON"),
])
def test_a_malformed_body_fails_its_request_only(body, line, words):
    bad, good = parse(f"PUT /i/t/1\n{body}\n\n{{\"pasted\": 1}}\n\nGET /i/t/1\n")
    assert bad.error.startswith(f"line {line}:") and words in bad.error
    assert (good.method, good.path, good.error) == ("GET", "/i/t/1", None)


async def test_the_runner_reports_a_malformed_request_as_one_failed_step_and_goes_on():
    async def send(node, method, target, headers, body):
        return Reply(200, {"found": True})

    expectations, exchanges = [], []
    replies = await run_console(Client("alice", "n1", send), 'PUT /i/t/1\n{"a": 1\n\nGET /i/t/1\n',
                                expect=lambda ok, text: expectations.append((ok, text)),
                                on_exchange=exchanges.append)
    assert [r and r.status for r in replies] == [None, 200]
    assert expectations == [(False, "PUT /i/t/1 (line 1) is not sent: line 4: invalid JSON: "
                                    "Expecting ',' delimiter")]
    assert format_exchange(exchanges[0]).splitlines()[-1].startswith("# not sent: line 4:")


def test_the_seed_files_parse():
    seed_000 = parse((CONSOLE / "seed_000.console").read_text(encoding="utf-8"))
    assert [(r.method, r.target) for r in seed_000] == [
        ("PUT", "/test_index/test_type/8"), ("GET", "/test_index/test_type/8"),
        ("PUT", "/test_index/test_type/8?version=2&version_type=external"),
        ("PUT", "/test_index/test_type/8?version=2&version_type=external"),
        ("GET", "/test_index/test_type/8"),
        ("PUT", "/test_index/test_type/8?version=3&version_type=external")]
    assert all(r.has_expected for r in seed_000)
    assert seed_000[3].expected["status"] == 409
    seed_004 = parse((CONSOLE / "seed_004.console").read_text(encoding="utf-8"))
    assert [r.target for r in seed_004] == ["/website/blog/1", "/website/blog/1",
                                            "/website/blog/1?version=1",
                                            "/website/blog/1?version=1"]
    assert all(r.has_expected for r in seed_004)


# -- comparing answers --------------------------------------------------------------------------
def test_differences_ignore_index_uuid_and_name_each_path():
    expected = {"error": {"root_cause": [{"reason": "r", "index_uuid": "A"}], "shard": "1"},
                "status": 409, "created": True}
    actual = {"error": {"root_cause": [{"reason": "r", "index_uuid": "B"}], "shard": "2",
                        "extra": 1}, "status": 409, "created": 1}
    assert differences(expected, actual) == [
        'error.shard: expected "1", got "2"',
        "error.extra: not expected, got 1",
        "created: expected true, got 1",
    ]
    assert differences({"a": [1, 2]}, {"a": [1]}) == ["a: expected 2 items, got 1"]
    assert differences({"a": 1}, {}) == ["a: missing (expected 1)"]
    assert differences({"took": 3, "a": 1}, {"took": 9, "a": 1}) == []


# -- the runner, with a fake sender ---------------------------------------------------------------
async def test_runner_sends_each_request_and_checks_pasted_answers():
    sent = []

    async def send(node, method, target, headers, body):
        sent.append((method, target, headers.get("Content-Type"), body))
        return Reply(201, {"result": "created", "index_uuid": "X"})

    expectations, exchanges = [], []
    replies = await run_console(Client("alice", "n1", send), """
PUT /i/_doc/1?refresh=true
{"a": 1}

{"result": "created", "index_uuid": "Y"}

POST /_bulk
{"index": {"_index": "i"}}
{"b": 2}

{"result": "updated"}
""", expect=lambda ok, text: expectations.append((ok, text)), on_exchange=exchanges.append)
    assert [r.status for r in replies] == [201, 201]
    assert sent == [
        ("PUT", "/i/_doc/1?refresh=true", "application/json", b'{"a": 1}'),
        ("POST", "/_bulk", "application/x-ndjson",
         b'{"index": {"_index": "i"}}\n{"b": 2}\n'),
    ]
    assert [ok for ok, _ in expectations] == [True, False]
    assert 'result: expected "updated", got "created"' in expectations[1][1]
    text = format_exchange(exchanges[1])
    assert text.splitlines()[:4] == ["POST /_bulk", '{"index": {"_index": "i"}}', '{"b": 2}', ""]
    assert "# 201 Created · NOT as expected:" in text


def test_a_printed_exchange_parses_back_with_its_answer():
    (request,) = parse('GET /i/_doc/1\n')
    text = format_exchange(Exchange(request, Reply(404, {"found": False})))
    (again,) = parse(text)
    assert (again.method, again.target, again.expected) == ("GET", "/i/_doc/1",
                                                           {"found": False})


# -- for real -----------------------------------------------------------------------------------
async def test_a_scenario_actor_runs_a_snippet():
    """What a scenario does: one actor runs a snippet; its pasted answers are expectations."""
    from occsim.cluster.config import ClusterConfig
    from occsim.cluster.runtime.manager import Manager
    from occsim.cluster.stories.runner import free_port_block
    from occsim.cluster.scenario import Cluster, Setup

    manager = Manager(ClusterConfig(nodes=1, port=free_port_block(1), es_compat=7))
    await manager.start()
    try:
        cluster = Cluster(manager, Setup(nodes=1), 7)
        replies = await run_console(cluster.client("alice"), """
PUT /blog/_doc/1
{"title": "one"}

PUT /blog/_doc/1?if_seq_no=0&if_primary_term=1
{"title": "two"}

{"_index": "blog", "_type": "_doc", "_id": "1", "_version": 2, "result": "updated",
 "_shards": {"total": 2, "successful": 1, "failed": 0}, "_seq_no": 1, "_primary_term": 1}

PUT /blog/_doc/1?if_seq_no=0&if_primary_term=1
{"title": "three"}
""", expect=cluster.expect)
    finally:
        await manager.stop()
    assert [r.status for r in replies] == [201, 200, 409]
    assert replies[2].reason == ("[1]: version conflict, required seqNo [0], primary term [1]. "
                                 "current document has seqNo [1] and primary term [1]")
    assert [e.ok for e in cluster.expectations] == [True]


def _occsim() -> list[str]:
    return [sys.executable, "-m", "occsim.cluster.tools.cli"]  # this checkout's code (cwd is ROOT)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*_occsim(), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_occsim_console_seed_000_gives_the_documented_answers():
    done = _run("console", "scenarios/console/seed_000.console", "--up", "--es-compat", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert ('"reason": "[test_type][8]: version conflict, current version [2] is higher or '
            'equal to the one provided [2]"') in out
    assert '"shard": "1"' in out
    assert "# 409 Conflict · as expected" in out
    assert out.rstrip().endswith("# 6 requests, 6 with a pasted answer: all as expected")
    assert "#     ├──PUT doc 8───▶│  PUT /test_index/test_type/8" in out  # the diagram
    # what it printed is a console file whose answers are the ones it got
    answers = [r.expected for r in parse(out)]
    assert answers[3]["error"]["shard"] == "1"
    assert json.dumps(answers[5]["_version"]) == "3"


def test_occsim_console_seed_004_in_profile_5_words():
    done = _run("console", "scenarios/console/seed_004.console", "--up", "--es-compat", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("[blog][1]: version conflict, current version [2] is different than the one "
            "provided [1]") in done.stdout
    assert '"shard": "3"' in done.stdout


def test_occsim_console_reports_differences_and_exits_1():
    done = _run("console", "scenarios/console/seed_000.console", "--up", "--es-compat", "7")
    assert done.returncode == 1
    assert "# 409 Conflict · NOT as expected:" in done.stdout
    assert '#   error.shard: expected "1", got "0"' in done.stdout


def test_occsim_console_unreadable_input_exits_2(tmp_path):
    bad = tmp_path / "bad.console"
    bad.write_text("this is prose\n")
    done = _run("console", str(bad))
    assert done.returncode == 2
    assert "line 1: expected a request line" in done.stderr
