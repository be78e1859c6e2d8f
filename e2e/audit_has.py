#!/usr/bin/env python3
"""e2e/audit_has.py LOG FIELD=VALUE...: exit 0 when some audit record in the controller's log has
every FIELD (a dotted path into the record, e.g. issuer.kind or details.reason) equal to VALUE
(compared as text; a list matches when VALUE is one of its items). VALUE may end in '*' for a prefix.
With --count N: exactly N records match. Reads both log formats: text lines "... audit {...}" and
--log-format json lines whose "msg" is "audit {...}"."""
import json
import sys


def records(path):
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                line = json.loads(line).get("msg", "")
            except ValueError:
                continue
        at = line.find("audit {")
        if at < 0:
            continue
        try:
            yield json.loads(line[at + len("audit "):])["audit"]
        except (ValueError, KeyError):
            continue


def get(record, path):
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def matches(value, want):
    if isinstance(value, list):
        return any(matches(v, want) for v in value)
    text = "true" if value is True else "false" if value is False else str(value)
    return text.startswith(want[:-1]) if want.endswith("*") else text == want


args = sys.argv[2:]
count = None
if args and args[0] == "--count":
    count, args = int(args[1]), args[2:]
conds = [a.split("=", 1) for a in args]
found = [r for r in records(sys.argv[1]) if all(get(r, k) is not None and matches(get(r, k), v) for k, v in conds)]
print(f"{len(found)} audit records match {args}")
sys.exit(0 if (len(found) == count if count is not None else found) else 1)
