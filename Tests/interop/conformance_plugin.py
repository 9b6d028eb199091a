"""pytest plugin for the conformance tests (test_conformance_*.py), loaded by conftest.py (`pytest_plugins`).

Every such test carries `@pytest.mark.scenario("<scenario id>", version="2025-11-25" | "2026-07-28", scored=...)`,
naming a server scenario of the official MCP conformance suite's requirements files (copied, server leg only, into
conformance-requirements/<version>.json).

* A test marked `scored=False` gets `xfail(strict=False, reason="not scored: <reason>")`: its failure (or error in
  setup or teardown) never fails the run, and a pass still shows (XPASS). The reason comes from the requirements
  file's `not_scored` entry (e.g. "extension", "pending").
* With `MCP_CONFORMANCE_REPORT=<path>`, writes a JSON report at the end of the session:
  {"target": ..., "scenarios": {"<version>": {"<scenario id>": {"outcome": "passed" | "failed" | "error" |
  "skipped" | "not run", "message": "<short failure message>", "scored": bool, "tests": [...]}}}}
  A scenario's outcome is the worst of its tests' (failed > error > skipped/not run > passed). A not-scored test
  that failed is "failed" here (pytest shows it as xfailed). conformance_report.py turns two reports into
  docs/conformance.md.
* Warns (terminal summary) about marks whose `scored` disagrees with the requirements file, or whose scenario id
  is not in it.
"""

from __future__ import annotations

import json
import os
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

REQUIREMENTS_DIR = Path(__file__).resolve().parent / "conformance-requirements"
_reports: dict[str, list[pytest.TestReport]] = {}
_warnings: list[str] = []
_written: list[str] = []


@lru_cache(maxsize=None)
def requirements(version: str) -> dict[str, Any]:
    """{"server": [...], "not_scored": {scenario: entry}} of conformance-requirements/<version>.json (empty if none)."""
    path = REQUIREMENTS_DIR / f"{version}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"server": [], "not_scored": {}}
    return {"server": list(data["server"]), "not_scored": {e["scenario"]: e for e in data["not_scored"]}}


def scenario_of(item: pytest.Item) -> tuple[str, str, bool] | None:
    """(version, scenario id, scored) from the item's `scenario` mark, or None."""
    mark = item.get_closest_marker("scenario")
    if mark is None:
        return None
    scenario = mark.args[0] if mark.args else mark.kwargs.get("id", "?")
    version = mark.kwargs.get("version", mark.args[1] if len(mark.args) > 1 else "?")
    return str(version), str(scenario), bool(mark.kwargs.get("scored", True))


def not_scored_reason(version: str, scenario: str) -> str:
    entry = requirements(version)["not_scored"].get(scenario)
    if entry is None:
        return "marked scored=False"
    return entry["reason"] + (f" ({entry['note']})" if entry.get("note") else "")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = scenario_of(item)
        if key is None:
            continue
        version, scenario, scored = key
        if not scored:
            item.add_marker(pytest.mark.xfail(strict=False, reason=f"not scored: {not_scored_reason(version, scenario)}"))
        if (version, scenario) in seen:
            continue
        seen.add((version, scenario))
        req = requirements(version)
        if scenario in req["server"]:
            if not scored:
                _warnings.append(f"{version} {scenario}: marked scored=False but the requirements list it as scored")
        elif scenario in req["not_scored"]:
            if scored:
                _warnings.append(f"{version} {scenario}: marked scored=True but the requirements list it under not_scored")
        else:
            _warnings.append(f"{version} {scenario}: not a server scenario of conformance-requirements/{version}.json")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _reports.setdefault(report.nodeid, []).append(report)


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        text = crash.message
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        text = str(longrepr[2])
    else:
        text = str(longrepr or "")
    # the message, without pytest's assertion explanation ("assert ...", "+ where ...") and object addresses
    lines = text.splitlines() or [""]
    lines = lines[:1] + [ln for ln in lines[1:] if not ln.lstrip().startswith(("+", "assert "))]
    text = re.sub(r" at 0x[0-9a-f]+", "", " ".join(" ".join(lines).split()))
    return text if len(text) <= 300 else text[:297] + "..."


def outcome_of(reports: list[pytest.TestReport]) -> tuple[str, str]:
    """(outcome, message) of one test from its setup/call/teardown reports. A failure that xfail turned into a
    skip (`wasxfail`) is still a failure here."""
    by_when = {r.when: r for r in reports}

    def bad(r: pytest.TestReport | None) -> bool:
        return r is not None and (r.failed or (r.skipped and hasattr(r, "wasxfail")))

    setup, call, teardown = by_when.get("setup"), by_when.get("call"), by_when.get("teardown")
    if bad(setup):
        return "error", _message(setup)
    if setup is not None and setup.skipped:
        return "skipped", _message(setup)
    if bad(call):
        return "failed", _message(call)
    if call is not None and call.skipped:
        return "skipped", _message(call)
    if bad(teardown):
        return "error", _message(teardown)
    if call is not None and call.passed:
        return "passed", ""
    return "not run", ""


RANK = {"failed": 4, "error": 3, "not run": 2, "skipped": 1, "passed": 0}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("MCP_CONFORMANCE_REPORT")
    if not path:
        return
    scenarios: dict[str, dict[str, dict[str, Any]]] = {}
    for item in getattr(session, "items", []):
        key = scenario_of(item)
        if key is None:
            continue
        version, scenario, scored = key
        outcome, message = outcome_of(_reports.get(item.nodeid, []))
        entry = scenarios.setdefault(version, {}).setdefault(
            scenario, {"outcome": "passed", "message": "", "scored": scored, "tests": []}
        )
        entry["tests"].append({"nodeid": item.nodeid, "outcome": outcome, "message": message})
        if RANK[outcome] > RANK[entry["outcome"]]:
            entry["outcome"], entry["message"] = outcome, message
    report = {
        "target": os.environ.get("MCP_CONFORMANCE_URL") or "one replica started by the conftest fixture",
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "exitstatus": int(exitstatus),
        "scenarios": scenarios,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    _written.append(path)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not (_warnings or _written):
        return
    terminalreporter.write_sep("-", "conformance scenarios")
    for warning in _warnings:
        terminalreporter.write_line(f"WARNING: {warning}", yellow=True)
    for path in _written:
        terminalreporter.write_line(f"conformance report written to {path}")
