#!/usr/bin/python3
"""Validates a sesscb JSON-lines trace (SESSCB_LOG) for the host-safety tests.

Every line must be one JSON object, newline-terminated, valid against
docs/trace-schema.json (the one definition of the trace: an unknown event
or field, a missing field or a wrong type fails) and consistent (sid hex
length = 2*sid_len, kept = ret != 0, ...); parsing and validation are
tools/sesscb_trace's, shared with the interop suite.

    check_log.py LOG [--expect PRED COUNT]... [--distinct EVENT KEY COUNT]...
                     [--forbid-hex HEX]... [--allow-empty] [--schema PATH]

PRED is "EVENT [KEY=VALUE | KEY!=VALUE | KEY~REGEX]..." (space separated);
values are compared with the JSON value rendered as text (strings raw,
true/false/null, numbers as written). COUNT is "N" (exactly) or "N+" (at
least). --distinct counts the distinct values of KEY among EVENT lines.
--forbid-hex fails if HEX, or any 8-byte (16 hex digit) window of it,
appears anywhere in the log (case-insensitive). --schema validates against
another schema file (the tests use it to prove a line the schema lacks fails).

Exit 0 and one summary line when everything holds; exit 1 with the reasons
otherwise. Uses only the standard library; run it with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import sesscb_trace  # noqa: E402  (found through the path above)


def render(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def parse_pred(text):
    words = text.split()
    if not words:
        raise SystemExit("empty predicate")
    conds = []
    for w in words[1:]:
        m = re.fullmatch(r"([A-Za-z_]+)(!=|=|~)(.*)", w)
        if not m:
            raise SystemExit("bad condition %r" % w)
        conds.append(m.groups())
    return words[0], conds


def matches(obj, pred):
    event, conds = pred
    if obj.get("event") != event:
        return False
    for key, op, want in conds:
        have = render(obj[key]) if key in obj else None
        if op == "=" and have != want:
            return False
        if op == "!=" and have == want:
            return False
        if op == "~" and (have is None or re.search(want, have) is None):
            return False
    return True


def count_ok(n, spec):
    if spec.endswith("+"):
        return n >= int(spec[:-1])
    return n == int(spec)


def forbidden_hex_errors(text, secrets):
    lowered = text.lower()
    errors = []
    for secret in secrets:
        secret = secret.lower()
        if len(secret) < 16 or re.fullmatch(r"[0-9a-f]+", secret) is None:
            errors.append("--forbid-hex needs at least 16 hex digits: %r" % secret)
            continue
        for i in range(0, len(secret) - 16 + 1, 2):
            if secret[i:i + 16] in lowered:
                errors.append("key material found in the log (bytes %d..%d of the secret)" % (i // 2, i // 2 + 8))
                break
    return errors


def count_errors(objs, expects, distincts):
    errors = []
    for pred_text, count in expects:
        pred = parse_pred(pred_text)
        n = sum(1 for o in objs if matches(o, pred))
        if not count_ok(n, count):
            errors.append("expected %s line(s) matching %r, found %d" % (count, pred_text, n))
    for event, key, count in distincts:
        values = {render(o.get(key)) for o in objs if o.get("event") == event}
        if not count_ok(len(values), count):
            errors.append("expected %s distinct %r among %r lines, found %d" % (count, key, event, len(values)))
    return errors


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--expect", nargs=2, action="append", default=[], metavar=("PRED", "COUNT"))
    ap.add_argument("--distinct", nargs=3, action="append", default=[], metavar=("EVENT", "KEY", "COUNT"))
    ap.add_argument("--forbid-hex", action="append", default=[])
    ap.add_argument("--allow-empty", action="store_true")
    ap.add_argument("--schema", default=sesscb_trace.SCHEMA_PATH)
    return ap.parse_args()


def main():
    args = parse_args()
    with open(args.log, "rb") as f:
        trace = sesscb_trace.parse_trace(f.read(), sesscb_trace.schema_validator(args.schema))
    errors = list(trace.errors)
    if not trace.text and not args.allow_empty:
        errors.append("log is empty")
    errors += forbidden_hex_errors(trace.text, args.forbid_hex)
    errors += count_errors(trace.events, args.expect, args.distinct)
    if errors:
        for e in errors[:40]:
            print("LOG FAIL: %s" % e)
        if len(errors) > 40:
            print("LOG FAIL: ... %d more" % (len(errors) - 40))
        return 1
    summary = {}
    for o in trace.events:
        summary[o["event"]] = summary.get(o["event"], 0) + 1
    print("LOG ok: %d lines %s" % (len(trace.events), json.dumps(summary, sort_keys=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
