#!/usr/bin/python3
"""Validates a sesscb JSON-lines trace (SESSCB_LOG) for the host-safety tests.

Every line must be one JSON object, newline-terminated, with exactly the
keys sesscb documents for its event (README "Trace events"; the one-line
notices of src/log.rs carry `detail`), of the right types and
mutually consistent (sid hex length = 2*sid_len, kept = ret != 0, ...).

    check_log.py LOG [--expect PRED COUNT]... [--distinct EVENT KEY COUNT]...
                     [--forbid-hex HEX]... [--allow-empty]

PRED is "EVENT [KEY=VALUE | KEY!=VALUE | KEY~REGEX]..." (space separated);
values are compared with the JSON value rendered as text (strings raw,
true/false/null, numbers as written). COUNT is "N" (exactly) or "N+" (at
least). --distinct counts the distinct values of KEY among EVENT lines.
--forbid-hex fails if HEX, or any 8-byte (16 hex digit) window of it,
appears anywhere in the log (case-insensitive).

Exit 0 and one summary line when everything holds; exit 1 with the reasons
otherwise. Uses only the standard library; run it with /usr/bin/python3.
"""

import argparse
import json
import re
import sys

PTR = "ptr"            # "0x..." string
PTR_OR_NULL = "ptr?"   # "0x..." string or null
HEX = "hex"            # lowercase hex string
COMMON = {"ts": "number", "pid": "int", "tid": "int", "event": "str"}
SIX = {
    "SSL_CTX_sess_%s_%s_cb" % (op, kind)
    for op in ("set", "get")
    for kind in ("new", "remove", "get")
}
EVENTS = {
    "resolve": {"libssl": "str", "openssl_version": "hexnum", "found_by": ("rtld_next", "soname", "loaded_objects", "caller_scope")},
    "set": {"cb": ("new", "remove", "get"), "ctx": PTR, "fn": PTR_OR_NULL,
            "route": ("slot", "shared", "direct", "cleared", "unresolved")},
    "new": {"ctx": PTR_OR_NULL, "ssl_ctx": PTR_OR_NULL, "sid": HEX, "sid_len": "int", "ret": "int", "kept": "bool"},
    "get": {"ctx": PTR_OR_NULL, "ssl_ctx": PTR_OR_NULL, "sid": HEX, "sid_len": "int", "copy_in": "int",
            "copy_out": "int", "hit": "bool", "ret": PTR_OR_NULL},
    "remove": {"ctx": PTR_OR_NULL, "sid": HEX, "sid_len": "int"},
    "ctx_free": {"ctx": PTR, "slot": "int"},
    "bad_input": {"fn": tuple(sorted(SIX)), "detail": "str"},
    "resolve_failed": {"detail": "str"},
    "trampolines_exhausted": {"detail": "str"},
    "internal_error": {"detail": "str"},
    "too_many_libssl": {"detail": "str"},
}
# Keys that only some lines of an event carry.
OPTIONAL = {"set": {"slot": "int"}}
ANY_OPTIONAL = {"truncated": "bool"}


def type_ok(value, spec):
    if isinstance(spec, tuple):
        return isinstance(value, str) and value in spec
    if spec == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec == "bool":
        return isinstance(value, bool)
    if spec == "str":
        return isinstance(value, str)
    if spec == "hexnum":
        return isinstance(value, str) and re.fullmatch(r"0x[0-9a-f]+", value) is not None
    if spec == PTR:
        return isinstance(value, str) and re.fullmatch(r"0x[0-9a-f]+", value) is not None
    if spec == PTR_OR_NULL:
        return value is None or type_ok(value, PTR)
    if spec == HEX:
        return isinstance(value, str) and re.fullmatch(r"(?:[0-9a-f]{2})*", value) is not None
    raise AssertionError(spec)


def render(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def validate(obj):
    """Reasons why one parsed line is not a documented sesscb event."""
    errors = []
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    event = obj.get("event")
    if event not in EVENTS:
        return ["unknown event %r" % (event,)]
    required = dict(COMMON)
    required.update(EVENTS[event])
    optional = dict(ANY_OPTIONAL)
    optional.update(OPTIONAL.get(event, {}))
    for key, spec in required.items():
        if key not in obj:
            errors.append("missing key %r" % key)
        elif not type_ok(obj[key], spec):
            errors.append("key %r has bad value %r" % (key, obj[key]))
    for key in obj:
        if key not in required and key not in optional:
            errors.append("undocumented key %r" % key)
        elif key in optional and not type_ok(obj[key], optional[key]):
            errors.append("key %r has bad value %r" % (key, obj[key]))
    if errors or obj.get("truncated"):
        return errors
    # Consistency.
    if "sid" in required and len(obj["sid"]) != 2 * obj["sid_len"]:
        errors.append("sid is not sid_len bytes")
    if event == "new" and obj["kept"] != (obj["ret"] != 0):
        errors.append("kept != (ret != 0)")
    if event == "get" and obj["hit"] != (obj["ret"] is not None):
        errors.append("hit != (ret != null)")
    if event == "set":
        has_slot = obj["route"] in ("slot", "shared")
        if has_slot != ("slot" in obj):
            errors.append("slot present iff route is slot/shared")
        if obj["route"] == "cleared" and obj["fn"] is not None:
            errors.append("route cleared with a non-NULL fn")
        if obj["route"] in ("slot", "shared", "direct") and obj["fn"] is None:
            errors.append("route %s with a NULL fn" % obj["route"])
    return errors


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--expect", nargs=2, action="append", default=[], metavar=("PRED", "COUNT"))
    ap.add_argument("--distinct", nargs=3, action="append", default=[], metavar=("EVENT", "KEY", "COUNT"))
    ap.add_argument("--forbid-hex", action="append", default=[])
    ap.add_argument("--allow-empty", action="store_true")
    args = ap.parse_args()

    with open(args.log, "rb") as f:
        data = f.read()
    errors = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print("LOG FAIL: not UTF-8: %s" % e)
        return 1
    if not text and not args.allow_empty:
        errors.append("log is empty")
    if text and not text.endswith("\n"):
        errors.append("last line is not newline-terminated (partial write?)")
    objs = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            errors.append("line %d: invalid JSON (%s): %r" % (n, e, line[:200]))
            continue
        for why in validate(obj):
            errors.append("line %d: %s: %r" % (n, why, line[:200]))
        objs.append(obj)

    lowered = text.lower()
    for secret in args.forbid_hex:
        secret = secret.lower()
        if len(secret) < 16 or re.fullmatch(r"[0-9a-f]+", secret) is None:
            errors.append("--forbid-hex needs at least 16 hex digits: %r" % secret)
            continue
        for i in range(0, len(secret) - 16 + 1, 2):
            if secret[i:i + 16] in lowered:
                errors.append("key material found in the log (bytes %d..%d of the secret)" % (i // 2, i // 2 + 8))
                break

    for pred_text, count in args.expect:
        pred = parse_pred(pred_text)
        n = sum(1 for o in objs if matches(o, pred))
        if not count_ok(n, count):
            errors.append("expected %s line(s) matching %r, found %d" % (count, pred_text, n))
    for event, key, count in args.distinct:
        values = {render(o.get(key)) for o in objs if o.get("event") == event}
        if not count_ok(len(values), count):
            errors.append("expected %s distinct %r among %r lines, found %d" % (count, key, event, len(values)))

    if errors:
        for e in errors[:40]:
            print("LOG FAIL: %s" % e)
        if len(errors) > 40:
            print("LOG FAIL: ... %d more" % (len(errors) - 40))
        return 1
    summary = {}
    for o in objs:
        summary[o["event"]] = summary.get(o["event"], 0) + 1
    print("LOG ok: %d lines %s" % (len(objs), json.dumps(summary, sort_keys=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
