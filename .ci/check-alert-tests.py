#!/usr/bin/env python3
"""Fails when an alert rule has no promtool unit test that shows it firing.

Usage: check-alert-tests.py RULES.yml TESTS.yml

Every `alert:` of RULES must appear in TESTS as the `alertname` of at least one
`alert_rule_test` whose `exp_alerts` is not empty (a test that only shows it quiet proves
nothing about its expression), and TESTS must name no alert RULES does not have.
"""

import sys

import yaml

from checklib import finish


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        tests = yaml.safe_load(f)
    alerts = {r["alert"] for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r}
    firing, named = set(), set()
    for test in tests.get("tests", []):
        for case in test.get("alert_rule_test", []) or []:
            named.add(case["alertname"])
            if case.get("exp_alerts"):
                firing.add(case["alertname"])
    errors = [f"{sys.argv[2]}: no test shows alert {a} firing" for a in sorted(alerts - firing)]
    errors += [f"{sys.argv[2]}: tests alert {a}, which {sys.argv[1]} does not define" for a in sorted(named - alerts)]
    finish(errors, f"each of the {len(alerts)} alerts has a promtool test that shows it firing")


if __name__ == "__main__":
    main()
