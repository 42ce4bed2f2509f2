#!/usr/bin/env python3
"""Checks the expected verdicts of the compatibility cases against reference checkers.

For every Avro case (compat-tests/avro/**/case.toml) the (reader, writer) pairs that the case's
level implies are sent to the Python avro oracle (avro_oracle.py) and to the avsc oracle
(avsc_oracle.js). With --buf, every Protobuf case whose level checks BACKWARD is also run through
`buf breaking` (buf_oracle.sh), BACKWARD pairs only.

Pairs are walked as the registry walks them: the latest version only for non-transitive levels,
newest to oldest for transitive ones, stopping after the first version that the case expects to
fail. For each pair and direction, the oracle's compatible/incompatible verdict must match the
case: incompatible exactly when the case expects a finding for that old version and direction.
A candidate expected to be INVALID_SCHEMA must fail to parse in the oracle.

A disagreement is *documented* when the case's [oracles] table has an entry for that oracle
(`python_avro`, `avsc`, `buf`) starting with "differs"; a documented entry that no longer
disagrees is reported as stale. Exit status: 0 when there is no undocumented disagreement and no
stale entry, 1 otherwise, 2 on usage or environment errors.

Usage: verify_cases.py [--buf] [--only python_avro,avsc,buf] [-v] [CASES_DIR]
"""

import argparse
import json
import os
import re
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.exit("verify_cases.py needs Python 3.11 or newer (tomllib)")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CASES = os.path.dirname(HERE)

BACKWARD_LEVELS = {"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
FORWARD_LEVELS = {"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"}
TRANSITIVE_LEVELS = {"BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"}


def version_number(name):
    m = re.fullmatch(r"v(\d+)(\.avsc)?", name)
    return int(m.group(1)) if m else None


def load_case(case_dir):
    with open(os.path.join(case_dir, "case.toml"), "rb") as f:
        meta = tomllib.load(f)
    versions = []
    for name in os.listdir(case_dir):
        n = version_number(name)
        if n is not None:
            versions.append((n, name))
    versions.sort()
    return meta, [name for _, name in versions]


def find_cases(root, fmt):
    base = os.path.join(root, fmt)
    for dirpath, _, files in sorted(os.walk(base)):
        if "case.toml" in files:
            yield os.path.relpath(dirpath, root), dirpath


def planned_pairs(meta, labels):
    """[(old_label, direction, expected_compatible)] in the registry's order, up to its stop."""
    level = meta["level"]
    if level == "NONE" or len(labels) < 2:
        return []
    olds = labels[:-1]
    order = list(reversed(olds)) if level in TRANSITIVE_LEVELS else [olds[-1]]
    failing = {}
    for e in meta.get("expect", []):
        if "old_version" in e:
            failing.setdefault(e["old_version"], set()).add(e["direction"])
    directions = [d for d, levels in (("BACKWARD", BACKWARD_LEVELS), ("FORWARD", FORWARD_LEVELS)) if level in levels]
    out = []
    for old in order:
        for d in directions:
            out.append((old, d, d not in failing.get(old, set())))
        if failing.get(old):
            break
    return out


def run_lines(cmd, requests):
    if not requests:
        return {}
    payload = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run(cmd, input=payload, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"verify_cases: {' '.join(cmd)} failed:\n{proc.stderr}")
    results = {}
    for line in proc.stdout.splitlines():
        if line.strip():
            r = json.loads(line)
            results[r["id"]] = r
    return results


def oracle_note(meta, oracle):
    note = meta.get("oracles", {}).get(oracle)
    return note if isinstance(note, str) and note.startswith("differs") else None


class Report:
    def __init__(self, verbose):
        self.verbose = verbose
        self.undocumented, self.documented, self.stale = [], [], []
        self.pairs = 0

    def case(self, oracle, case, meta, problems):
        note = oracle_note(meta, oracle)
        if problems and not note:
            self.undocumented += [f"{oracle:11} {case}: {p}" for p in problems]
        elif problems:
            self.documented += [f"{oracle:11} {case}: {p} [{note}]" for p in problems]
        elif note:
            self.stale.append(f"{oracle:11} {case}: no disagreement, but [oracles] says: {note}")


def avro_requests(cases_root):
    """Requests for the Avro oracles and the checks to run on their answers."""
    requests, checks = [], []
    for case, case_dir in find_cases(cases_root, "avro"):
        meta, names = load_case(case_dir)
        if any(not n.endswith(".avsc") for n in names):
            continue  # a format change (SCHEMA_TYPE_CHANGED) case: no Avro oracle applies
        texts = {}
        for n in names:
            with open(os.path.join(case_dir, n)) as f:
                texts[n[: -len(".avsc")]] = f.read()
        labels = list(texts)
        cand = labels[-1]
        rules = [e.get("rule") for e in meta.get("expect", [])]
        if "INVALID_SCHEMA" in rules:
            rid = f"{case}#parse"
            requests.append({"id": rid, "reader": texts[cand], "writer": texts[cand]})
            checks.append((case, meta, [(rid, None, None, "invalid")]))
            continue
        items = []
        for old, direction, expected in planned_pairs(meta, labels):
            reader, writer = (cand, old) if direction == "BACKWARD" else (old, cand)
            rid = f"{case}#{old}#{direction}"
            requests.append({"id": rid, "reader": texts[reader], "writer": texts[writer]})
            items.append((rid, old, direction, expected))
        checks.append((case, meta, items))
    return requests, checks


def judge(results, items):
    problems = []
    for rid, old, direction, expected in items:
        r = results[rid]
        if expected == "invalid":
            if r["compatible"] is not None:
                problems.append("expected the candidate to be rejected as INVALID_SCHEMA, but it parses")
            continue
        if r["compatible"] is None:
            problems.append(f"{direction} vs {old}: does not parse ({r['error']})")
        elif r["compatible"] != expected:
            want = "compatible" if expected else "incompatible"
            got = "compatible" if r["compatible"] else "incompatible"
            why = f" ({r['error']})" if r.get("error") else ""
            problems.append(f"{direction} vs {old}: expected {want}, oracle says {got}{why}")
    return problems


def verify_avro(cases_root, report, oracles):
    requests, checks = avro_requests(cases_root)
    commands = {
        "python_avro": [sys.executable, os.path.join(HERE, "avro_oracle.py")],
        "avsc": ["node", os.path.join(HERE, "avsc_oracle.js")],  # NODE_PATH or .oracles/node
    }
    for oracle, cmd in commands.items():
        if oracle not in oracles:
            continue
        results = run_lines(cmd, requests)
        for case, meta, items in checks:
            report.pairs += len(items)
            report.case(oracle, case, meta, judge(results, items))
    return len(checks)


def verify_buf(cases_root, report):
    n = 0
    for case, case_dir in find_cases(cases_root, "protobuf"):
        meta, names = load_case(case_dir)
        if any(name.endswith(".avsc") for name in names) or meta["level"] not in BACKWARD_LEVELS:
            continue
        n += 1
        cand = names[-1]
        problems = []
        for old, direction, expected in planned_pairs(meta, names):
            if direction != "BACKWARD":
                continue
            report.pairs += 1
            proc = subprocess.run(
                [os.path.join(HERE, "buf_oracle.sh"), os.path.join(case_dir, old), os.path.join(case_dir, cand)],
                capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"verify_cases: buf_oracle.sh failed on {case}:\n{proc.stderr}")
            r = json.loads(proc.stdout)
            if r["compatible"] is None:
                problems.append(f"BACKWARD vs {old}: {r['error']}")
            elif r["compatible"] != expected:
                want = "compatible" if expected else "incompatible"
                got = "compatible" if r["compatible"] else "incompatible: " + "; ".join(
                    v["type"] for v in r["violations"])
                problems.append(f"BACKWARD vs {old}: expected {want}, buf says {got}")
        report.case("buf", case, meta, problems)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="?", default=DEFAULT_CASES, help="the compat-tests folder")
    ap.add_argument("--buf", action="store_true", help="also run buf over the Protobuf cases (BACKWARD pairs)")
    ap.add_argument("--only", default="python_avro,avsc,buf", help="comma-separated oracles to run")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list documented disagreements")
    args = ap.parse_args()
    oracles = set(args.only.split(","))

    report = Report(args.verbose)
    n_avro = verify_avro(args.cases, report, oracles)
    n_proto = verify_buf(args.cases, report) if args.buf and "buf" in oracles else 0

    for line in report.undocumented:
        print("UNDOCUMENTED " + line)
    for line in report.stale:
        print("STALE        " + line)
    if args.verbose:
        for line in report.documented:
            print("documented   " + line)
    print(f"{n_avro} Avro cases, {n_proto} Protobuf cases, {report.pairs} oracle verdicts: "
          f"{len(report.undocumented)} undocumented disagreements, {len(report.documented)} documented, "
          f"{len(report.stale)} stale [oracles] entries")
    return 1 if report.undocumented or report.stale else 0


if __name__ == "__main__":
    sys.exit(main())
