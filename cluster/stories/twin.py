"""Two runs of one story side by side (`occsim run --sim --twin replica-rule=apply-all`): the
same seed, so the same schedule until the rules make the runs part, under Elasticsearch's rules
and under a counterfactual one. It prints both runs' copies, both verdicts, and the first event
where the two traces differ.
"""

from __future__ import annotations

import io
import json

from occsim.cluster.sim import loop as simloop
from occsim.cluster.stories.explore import classify
from occsim.cluster.stories.runner import Outcome, Report, run_scenario
from occsim.cluster.sim.schedule import LINK_RULES, REPLICA_RULES
from occsim.cluster.stories.sweep import first_difference


def parse(text: str) -> tuple[str, str]:
    """`replica-rule=apply-all` or `links=fifo` into (flag, value); ValueError otherwise."""
    flag, _, value = text.partition("=")
    allowed = {"replica-rule": REPLICA_RULES, "links": LINK_RULES}
    if flag not in allowed or value not in allowed[flag]:
        raise ValueError(f"--twin takes replica-rule=apply-all or links=fifo, not [{text}]")
    return flag, value


def run_pair(name: str, *, seed: int | None, es_compat: int | None, replica_rule: str,
             links: str, twin: tuple[str, str]) -> tuple[Outcome, Outcome]:
    """The run under the given rules and its twin under `twin` changed."""
    rules = {"replica-rule": replica_rule, "links": links}
    other = {**rules, twin[0]: twin[1]}
    return tuple(simloop.run(run_scenario(
        name, seed=seed, es_compat=es_compat, report=Report(io.StringIO()), sim=True,
        replica_rule=r["replica-rule"], links=r["links"])) for r in (rules, other))


def _copy(value: tuple | None) -> str:
    if value is None:
        return "-"
    version, seq_no, digest = value
    return f"v{version} seq {seq_no} " + ("deleted" if digest == "deleted" else f"#{digest[:8]}")


def side_by_side(a: Outcome, b: Outcome) -> str:
    """Both runs' copies of every document, both verdicts, and where the traces part."""
    copies_a, copies_b = classify(a, ())[1], classify(b, ())[1]
    heads = [a.rules.strip(" []") or "Elasticsearch's rules", b.rules.strip(" []") or
             "Elasticsearch's rules"]
    lines = [f"{'copy':<24}{heads[0]:<28}{heads[1]}"]
    for key in sorted(set(copies_a) | set(copies_b)):
        nodes = sorted(set(copies_a.get(key, {})) | set(copies_b.get(key, {})))
        for node in nodes:
            mark = "" if copies_a.get(key, {}).get(node) == copies_b.get(key, {}).get(node) \
                else "   <- differs"
            lines.append(f"{key[0] + '/' + key[1] + ' on ' + node:<24}"
                         f"{_copy(copies_a.get(key, {}).get(node)):<28}"
                         f"{_copy(copies_b.get(key, {}).get(node))}{mark}")
    lines += ["", a.verdict, b.verdict]
    difference = first_difference(a.trace[1:], b.trace[1:])  # past the headers' rules
    if difference is None:
        lines.append("the two traces are identical past their headers")
    else:
        i, x, y = difference
        i += 1
        lines.append(f"the traces part at event {i}:")
        lines.append(f"  {heads[0]}: {json.dumps(x, sort_keys=True)}")
        lines.append(f"  {heads[1]}: {json.dumps(y, sort_keys=True)}")
    return "\n".join(lines)
