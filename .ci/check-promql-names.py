#!/usr/bin/env python3
"""Fails when a Grafana dashboard or a Prometheus rule names a metric that moon does not export.

Usage: check-promql-names.py METRIC_LIST REPO_ROOT FILE...

FILEs are Grafana dashboard JSON (every `expr` and `label_values(...)` query) or Prometheus rule
YAML (every `expr:`). Metric names are what is left of an expression once strings, label
matchers, ranges, grouping clauses, numbers, keywords and function calls are taken out; each must
be in METRIC_LIST (a histogram also allows its _bucket, _sum and _count series). Names marked
`source` in the list must also be registered somewhere under REPO_ROOT/crates, so the list cannot
drift from the code.
"""

import json
import pathlib
import re
import sys

from checklib import finish

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}


def load_names(path):
    allowed, from_source = set(), []
    for line in pathlib.Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, name, origin = line.split()
        allowed.add(name)
        if kind == "histogram":
            allowed.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"})
        if origin == "source":
            from_source.append(name)
    return allowed, from_source


def metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![A-Za-z_:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        token = m.group(0)
        if token.lower() in KEYWORDS or re.match(r"\s*\(", s[m.end():]):
            continue  # a keyword or a function call
        names.add(token)
    return names


def dashboard_exprs(path):
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    found.append(value)
                elif key == "query" and isinstance(value, str) and value.startswith("label_values("):
                    found.append(value[len("label_values("):].split(",")[0].rstrip(")"))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(pathlib.Path(path).read_text()))
    return found


def rule_exprs(path):
    # Rule files keep each expr as `expr: ...` or a block `expr: |` followed by indented lines.
    lines = pathlib.Path(path).read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        if m.group(2).strip() in ("|", ">", "|-", ">-"):
            indent, block = len(m.group(1)), []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            found.append("\n".join(block))
        else:
            found.append(m.group(2).strip().strip("'\""))
    return found


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    allowed, from_source = load_names(sys.argv[1])
    root = pathlib.Path(sys.argv[2])
    errors, checked = [], 0
    code = "\n".join(p.read_text() for p in (root / "crates").rglob("*.rs"))
    for name in from_source:
        registered = name.removeprefix("moon_").removesuffix("_total")
        if f'"{registered}"' not in code:
            errors.append(f"{sys.argv[1]}: {name} is marked `source` but no crate registers \"{registered}\"")
    for path in sys.argv[3:]:
        exprs = dashboard_exprs(path) if path.endswith(".json") else rule_exprs(path)
        if not exprs:
            errors.append(f"{path}: no PromQL expression found")
        for expr in exprs:
            checked += 1
            for name in sorted(metric_names(expr) - allowed):
                errors.append(f"{path}: unknown metric {name!r} in: {' '.join(expr.split())}")
    finish(errors, f"{checked} PromQL expressions name only known metrics")


if __name__ == "__main__":
    main()
