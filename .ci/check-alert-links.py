#!/usr/bin/env python3
"""Fails when an alert rule has no runbook link, or its link points at no section of the runbook.

Usage: check-alert-links.py RULES_YAML RUNBOOK_MD

Every rule with `alert:` must carry an annotation `runbook_url: <anything>/docs/RUNBOOK.md#anchor`
whose anchor is the GitHub-style anchor of a heading in RUNBOOK_MD (lower case, punctuation
dropped, spaces as hyphens), so that whoever is paged lands on the instructions.
"""

import pathlib
import re
import sys

import yaml
from checklib import finish


def anchors(markdown):
    found = set()
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rules = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
    known = anchors(pathlib.Path(sys.argv[2]).read_text())
    errors, checked = [], 0
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            checked += 1
            name = rule["alert"]
            url = (rule.get("annotations") or {}).get("runbook_url", "")
            m = re.fullmatch(r"https?://\S+/docs/RUNBOOK\.md#([\w-]+)", url)
            if not m:
                errors.append(f"{name}: runbook_url {url!r} is not a link to a section of docs/RUNBOOK.md")
            elif m.group(1) not in known:
                errors.append(f"{name}: docs/RUNBOOK.md has no heading with the anchor #{m.group(1)}")
    if checked == 0:
        errors.append(f"{sys.argv[1]}: no alert rule found")
    finish(errors, f"{checked} alert rules link to sections of the runbook")


if __name__ == "__main__":
    main()
