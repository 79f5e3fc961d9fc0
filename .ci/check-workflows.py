#!/usr/bin/env python3
"""Checks what the GitHub workflows may deploy, and when (the schema and zizmor check the rest).

Usage: check-workflows.py WORKFLOW_DIR

1. No workflow but cd.yml runs `deploy/release.sh` for a release, and cd.yml starts on nothing
   but `workflow_call`: it cannot run on a push, a dispatch or a schedule of its own.
2. Every job that calls cd.yml `needs` the job that runs `.ci/run` in the same workflow, and its
   `if` allows only a push to main or a manual run on main or a v* tag (and nothing else: the
   condition is evaluated here for a set of events and refs).
3. rollback.yml exists, starts only by hand (`workflow_dispatch`), runs
   `deploy/release.sh --rollback` only when the ref is main, in the `production` environment.
"""

import pathlib
import re
import sys

import yaml

from checklib import finish


def triggers(doc):
    # PyYAML reads the key `on` as the boolean True.
    on = doc.get("on", doc.get(True))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return set(on)
    return set((on or {}).keys())


def runs(job):
    return "\n".join(str(step.get("run", "")) for step in job.get("steps", []) or [])


def evaluate(condition, event, ref):
    """Evaluates the small subset of GitHub's expression language the deploy conditions use."""
    expr = condition.strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    expr = re.sub(r"startsWith\(\s*github\.ref\s*,\s*'([^']*)'\s*\)", lambda m: repr(ref.startswith(m.group(1))), expr)
    expr = expr.replace("github.event_name", repr(event)).replace("github.ref", repr(ref))
    expr = expr.replace("&&", " and ").replace("||", " or ").replace("!=", " != ")
    if re.search(r"\b(github|inputs|vars|needs|env|secrets)\.", expr) or not re.fullmatch(r"[\s()'A-Za-z0-9_./=!-]*", expr):
        raise ValueError(f"cannot evaluate {condition!r}: only github.event_name, github.ref and startsWith(github.ref, ...)")
    # Only literals, comparisons and and/or remain (checked above).
    return bool(eval("(" + expr + ")", {"__builtins__": {}}, {}))  # noqa: S307


CASES = [
    ("push", "refs/heads/main", True),
    ("workflow_dispatch", "refs/heads/main", True),
    ("workflow_dispatch", "refs/tags/v1.2.3", True),
    ("workflow_dispatch", "refs/heads/feature", False),
    ("workflow_dispatch", "refs/tags/nightly", False),
    ("push", "refs/heads/feature", False),
    ("pull_request", "refs/pull/7/merge", False),
    ("pull_request", "refs/heads/main", False),
    ("schedule", "refs/heads/main", False),
]


def main():
    root = pathlib.Path(sys.argv[1])
    errors = []
    docs = {p.name: yaml.safe_load(p.read_text()) for p in sorted(root.glob("*.yml"))}
    cd = docs.get("cd.yml")
    if cd is None:
        errors.append("cd.yml is missing")
    elif triggers(cd) != {"workflow_call"}:
        errors.append(f"cd.yml starts on {sorted(map(str, triggers(cd)))}; only workflow_call (from ci.yml, after CI) is allowed")
    callers = 0
    for name, doc in docs.items():
        jobs = doc.get("jobs") or {}
        for job_name, job in jobs.items():
            if name not in ("cd.yml", "rollback.yml") and re.search(r"deploy/release\.sh(?!\s+--(dry-run|render))", runs(job)):
                errors.append(f"{name}: job {job_name} runs deploy/release.sh; only cd.yml and rollback.yml may")
            if str(job.get("uses", "")).endswith(".github/workflows/cd.yml"):
                callers += 1
                needs = job.get("needs") or []
                needs = [needs] if isinstance(needs, str) else needs
                ci_jobs = [j for j, body in jobs.items() if ".ci/run" in runs(body)]
                if not ci_jobs or not set(ci_jobs) <= set(needs):
                    errors.append(f"{name}: job {job_name} deploys without needing the CI job(s) {ci_jobs}")
                condition = job.get("if")
                if not condition:
                    errors.append(f"{name}: job {job_name} deploys with no `if` restricting event and ref")
                    continue
                for event, ref, want in CASES:
                    try:
                        got = evaluate(str(condition), event, ref)
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"{name}: job {job_name}: {e}")
                        break
                    if got != want:
                        verb = "deploys" if got else "does not deploy"
                        errors.append(f"{name}: job {job_name} {verb} on {event} of {ref}")
    if callers == 0:
        errors.append("no workflow calls cd.yml, so nothing deploys after CI")
    rollback = docs.get("rollback.yml")
    if rollback is None:
        errors.append("rollback.yml is missing")
    else:
        if triggers(rollback) != {"workflow_dispatch"}:
            errors.append("rollback.yml must start only by hand (workflow_dispatch)")
        jobs = [j for j in (rollback.get("jobs") or {}).values() if "deploy/release.sh --rollback" in runs(j)]
        if not jobs:
            errors.append("rollback.yml never runs deploy/release.sh --rollback")
        for job in jobs:
            if job.get("environment") != "production":
                errors.append("rollback.yml: the rollback job must run in the production environment")
            condition = str(job.get("if", ""))
            for event, ref, want in [("workflow_dispatch", "refs/heads/main", True), ("workflow_dispatch", "refs/heads/x", False), ("workflow_dispatch", "refs/tags/v1", False)]:
                if not condition or evaluate(condition, event, ref) != want:
                    errors.append(f"rollback.yml: the rollback job {'must' if want else 'must not'} run from {ref}")
    finish(errors, f"{len(docs)} workflows: CD only after CI and only from main or v* tags ({callers} caller), rollback from main by hand")


if __name__ == "__main__":
    main()
