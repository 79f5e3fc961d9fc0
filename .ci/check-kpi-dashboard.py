#!/usr/bin/env python3
"""Fails when the KPI dashboard names a warehouse table or column that the warehouse does not have.

Usage: check-kpi-dashboard.py WAREHOUSE_SQL DASHBOARD_JSON [--run PSQL_URL]

The dashboard's panels and variables query the warehouse in SQL (a Grafana PostgreSQL data
source), so the PromQL check cannot see them. This reads the tables and columns from the
`CREATE TABLE IF NOT EXISTS` statements in WAREHOUSE_RS (the schema the aggregator creates) and
checks that every query of the dashboard uses the `warehouse` data-source variable, that every
table after FROM or JOIN is one of those tables, and that every `alias.column` names a column of
the aliased table. With --run, every query is also run with psql against a warehouse (Grafana's
macros and variables replaced by plain SQL), so the SQL must be valid there too.
"""

import json
import pathlib
import re
import subprocess
import sys

from checklib import finish


def warehouse_schema(path):
    text = pathlib.Path(path).read_text()
    schema = {}
    for m in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\)\s*;", text, re.S):
        columns = set()
        for part in m.group(2).split(","):
            word = part.strip().split()
            if word and word[0].upper() != "PRIMARY" and re.fullmatch(r"\w+", word[0]):
                columns.add(word[0])
        schema[m.group(1)] = columns
    return schema


def queries(dashboard):
    """(where, datasource, sql) for every panel target and every query variable."""
    found = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            found.append((f"panel {panel.get('title')!r}", target.get("datasource"), target.get("rawSql", "")))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            found.append((f"variable {var.get('name')!r}", var.get("datasource"), var.get("query", "")))
    return found


def check_sql(where, sql, schema):
    errors = []
    aliases = {}
    for m in re.finditer(r"\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql, re.I):
        table, alias = m.group(1), m.group(2)
        if table not in schema:
            errors.append(f"{where}: table {table!r} is not in the warehouse schema")
            continue
        aliases[table] = table
        if alias and alias.upper() not in {"WHERE", "JOIN", "LEFT", "ON", "GROUP", "ORDER", "UNION", "INNER"}:
            aliases[alias] = table
    for m in re.finditer(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b", sql):
        alias, column = m.group(1), m.group(2)
        if alias in aliases and column not in schema[aliases[alias]]:
            errors.append(f"{where}: {aliases[alias]} has no column {column!r}")
    return errors


def plain_sql(sql):
    """The query as Grafana would send it: macros and multi-value variables replaced."""
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", r"\1 BETWEEN DATE '2000-01-01' AND DATE '2100-01-01'", sql)
    # `IN ($team)` becomes `IN (SELECT team FROM dim_agent)`: every value, as "All" selects.
    sql = re.sub(r"\$team\b", "SELECT team FROM dim_agent", sql)
    return re.sub(r"\$branch\b", "SELECT branch FROM kpi_branch_totals", sql)


def main():
    args = sys.argv[1:]
    run_url = None
    if "--run" in args:
        i = args.index("--run")
        run_url = args[i + 1]
        del args[i : i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    schema = warehouse_schema(args[0])
    if len(schema) < 5:
        sys.exit(f"{args[0]}: found only {len(schema)} CREATE TABLE statements; has the DDL moved?")
    dashboard = json.loads(pathlib.Path(args[1]).read_text())
    names = {v.get("name") for v in dashboard.get("templating", {}).get("list", []) if v.get("type") == "datasource"}
    errors = [] if "warehouse" in names else [f"{args[1]}: no `warehouse` data-source variable"]
    found = queries(dashboard)
    if not found:
        errors.append(f"{args[1]}: no SQL query found")
    for where, datasource, sql in found:
        if not sql.strip():
            errors.append(f"{where}: empty query")
            continue
        if (datasource or {}).get("uid") != "${warehouse}":
            errors.append(f"{where}: data source is not the `warehouse` variable")
        errors.extend(check_sql(where, sql, schema))
        if run_url and not errors:
            done = subprocess.run(["psql", run_url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", plain_sql(sql)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                errors.append(f"{where}: fails on the warehouse: {done.stderr.strip()}")
    ran = " and run on the warehouse" if run_url else ""
    finish(errors, f"{len(found)} warehouse queries name only tables and columns of {len(schema)} warehouse tables{ran}")


if __name__ == "__main__":
    main()
