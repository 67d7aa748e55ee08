"""The pytest plugin, as another project's test suite sees it: each test writes a small test
project into a temporary folder and runs pytest on it in a subprocess (with the plugin loaded
explicitly, installed or not), on real node processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from occsim.cluster.trace import checker, events as trace

ROOT = Path(__file__).resolve().parents[2]

HELPERS = '''
import json, urllib.request

def call(url, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
'''


def run_pytest(folder: Path, files: dict[str, str], *args: str,
               timeout: float = 300) -> subprocess.CompletedProcess:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))
    (folder / "helpers.py").write_text(HELPERS)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "occsim.cluster.plugin.pytest_plugin", "-p", "no:cacheprovider",
         "-q", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_failing_test_reports_its_diagram_and_the_next_test_starts_empty(tmp_path):
    result = run_pytest(tmp_path, {"test_books.py": '''
        from helpers import call

        def test_writes_twice_and_expects_a_wrong_version(occsim):
            assert str(occsim) == occsim.url
            call(occsim.url, "PUT", "/books/_doc/7", {"title": "Dune"})
            status, body = call(occsim.url, "PUT", "/books/_doc/7", {"title": "Dune II"})
            assert body["_version"] == 3

        def test_starts_with_no_index(occsim):
            status, body = call(occsim.url, "PUT", "/books/_doc/7", {"title": "Dune"})
            assert (status, body["_version"], body["result"]) == (201, 1, "created")
        '''})
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed, 1 passed" in out
    section = out.split("occsim: what the test did")[1]
    assert "PUT /books/_doc/7" in section and "n1 writes doc 7 → v2 #1" in section
    assert "\x1b[" not in out  # no colour
    assert max(len(line) for line in section.splitlines()) <= 100  # the terminal's width
    assert "│" in section and "▶" in section  # the view's lanes and arrows


def test_a_cluster_that_cannot_answer_does_not_break_the_report(tmp_path):
    result = run_pytest(tmp_path, {"test_gone.py": '''
        def test_stops_the_whole_cluster_then_fails(occsim):
            occsim.stop()
            assert False
        '''})
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert "the trace could not be collected: RuntimeError" in result.stdout
    assert "1 failed" in result.stdout


def test_command_line_beats_ini_and_factory_argument_beats_both(tmp_path):
    result = run_pytest(tmp_path, {
        "pytest.ini": '''
            [pytest]
            occsim_nodes = 2
            occsim_es_compat = 6
            ''',
        "test_settings.py": '''
            from occsim.cluster.plugin import factories
            from helpers import call

            occsim_single = factories.occsim_proc(nodes=1)
            single = factories.occsim("occsim_single")

            def test_default_fixture(occsim):
                assert len(occsim.urls) == 3
                assert call(occsim.url, "GET", "/")[1]["version"]["number"].startswith("6.")

            def test_factory(single):
                assert len(single.urls) == 1
                assert call(single.url, "GET", "/")[1]["version"]["number"].startswith("6.")
            '''}, "--occsim-nodes", "3")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_option_is_one_line_without_a_traceback(tmp_path):
    result = run_pytest(tmp_path, {"test_x.py": '''
        def test_x(occsim):
            pass
        '''}, "--occsim-es-compat", "4")
    assert result.returncode != 0
    assert "occsim: --occsim-es-compat: es-compat must be one of 5, 6, 7, 8, 9, not 4" in \
        result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_every_fault_is_repaired_after_a_test(tmp_path):
    result = run_pytest(tmp_path, {"test_faults.py": '''
        import threading
        from helpers import call

        SETTINGS = {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}

        def test_breaks_everything(occsim):
            call(occsim.url, "PUT", "/orders", SETTINGS)
            call(occsim.url, "PUT", "/orders/_doc/1", {"n": 1})
            primary = occsim.primary_of("orders", "1")
            others = [n for n in occsim.nodes if n != primary]
            occsim.hold(primary, others[0], doc="1")
            write = threading.Thread(
                target=call, args=(occsim.url_of(primary), "PUT", "/orders/_doc/1", {"n": 2}))
            write.start()
            occsim.wait_held(1)
            occsim.pause(others[1])
            occsim.network(delay_min_ms=50, delay_max_ms=50)
            occsim.kill(primary)
            occsim.partition([others[0]])

        def test_finds_every_node_back_and_no_index(occsim):
            assert sorted(occsim.nodes) == ["n1", "n2", "n3"]
            assert call(occsim.url, "GET", "/_cat/indices?format=json")[1] == []
            call(occsim.url, "PUT", "/orders", SETTINGS)
            status, body = call(occsim.url, "PUT", "/orders/_doc/1", {"n": 1})
            assert (status, body["_shards"]) == (201, {"total": 3, "successful": 3, "failed": 0})
            occsim.check()
        '''}, "--occsim-nodes", "3", "--occsim-es-compat", "7")
    assert result.returncode == 0, result.stdout + result.stderr


def test_trace_dir_keeps_each_tests_trace_for_replay_and_check(tmp_path):
    result = run_pytest(tmp_path, {"test_traced.py": '''
        from helpers import call

        def test_one_write(occsim):
            call(occsim.url, "PUT", "/books/_doc/1?refresh=true", {"title": "Emma"})
        '''}, "--occsim-trace-dir", "traces", "--occsim-es-compat", "7")
    assert result.returncode == 0, result.stdout + result.stderr
    [path] = (tmp_path / "traces").iterdir()
    assert path.name == "test_traced.py_test_one_write.jsonl"
    events = trace.read(path)
    assert trace.profile_of(events) == 7
    assert [e["kind"] for e in events].count("primary_write") == 1
    assert checker.check(events, profile=7) == []
    cli = subprocess.run([sys.executable, "-m", "occsim.cluster.tools.cli", "check", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert (cli.returncode, cli.stdout) == (0, "No invariant violations.\n")


def test_occsim_sim_is_deterministic_and_its_failure_shows_the_diagram(tmp_path):
    result = run_pytest(tmp_path, {"test_sim.py": '''
        async def story(cluster):
            alice = cluster.client("alice")
            await cluster.backend.create_index(
                "blog", {"settings": {"number_of_shards": 1, "number_of_replicas": 1}})
            await alice.index("blog", "1", {"v": 1})
            await alice.index("blog", "1", {"v": 2})
            return (await cluster.copies("blog", "1"))

        def test_same_seed_same_trace(occsim_sim):
            first = occsim_sim(story, nodes=2, seed=3, delay="5..50ms", reorder=0.5)
            second = occsim_sim(story, nodes=2, seed=3, delay="5..50ms", reorder=0.5)
            assert first.trace == second.trace
            first.check()
            assert {c["_version"] for c in first.result.values()} == {2}

        def test_fails_on_purpose(occsim_sim):
            run = occsim_sim(story, nodes=2)
            assert len(run.result) == 3
        '''})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    section = result.stdout.split("occsim: what the test did")[1]
    assert "alice" in section and "PUT /blog/_doc/1" in section


def test_nooproc_uses_a_cluster_occsim_up_started(tmp_path):
    up = subprocess.Popen([sys.executable, "-m", "occsim.cluster.tools.cli", "up", "--nodes", "2",
                           "--port", str(_free_ports(2)), "--es-compat", "8"],
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          stdout=subprocess.PIPE, text=True)
    try:
        for line in up.stdout:  # the ready line comes once the run file is written
            if line.startswith("ready in"):
                break
        run_file = json.loads((tmp_path / ".occsim-run.json").read_text())
        assert set(run_file) >= {"manager", "secret"}
        result = run_pytest(tmp_path, {"test_remote.py": '''
            from occsim.cluster.plugin import factories
            from helpers import call

            remote = factories.occsim("occsim_nooproc")

            def test_writes_and_partitions(remote):
                assert len(remote.urls) == 2
                call(remote.url, "PUT", "/books/_doc/1", {"t": 1})
                remote.hold("n1", kind="replicate")
                remote.partition(["n1"], ["n2"], one_way=True)

            def test_finds_it_clean(remote):
                assert call(remote.url, "GET", "/_cat/indices?format=json")[1] == []
            '''}, "--occsim-trace-dir", "traces")
        assert result.returncode == 0, result.stdout + result.stderr
        assert not (tmp_path / "traces").exists()  # its trace stays with its manager
    finally:
        up.terminate()
        up.wait(30)


def _free_ports(count: int) -> int:
    from occsim.cluster.stories.runner import free_port_block
    return free_port_block(count)
