"""Reading a SESSCB_LOG trace: every line parsed and validated against
docs/trace-schema.json, plus the rules JSON Schema cannot state."""

import json
import os

from .validator import Validator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_PATH = os.path.join(ROOT, "docs", "trace-schema.json")

_VALIDATORS = {}


def schema_validator(path=SCHEMA_PATH):
    """The validator for the schema at `path` (loaded once)."""
    if path not in _VALIDATORS:
        with open(path) as f:
            _VALIDATORS[path] = Validator(json.load(f))
    return _VALIDATORS[path]


def invariants(obj):
    """Cross-field rules of a schema-valid line (skipped when truncated)."""
    if obj.get("truncated"):
        return []
    errors = []
    if "sid" in obj and len(obj["sid"]) != 2 * obj["sid_len"]:
        errors.append("sid is not sid_len bytes")
    if obj["event"] == "new" and obj["kept"] != (obj["ret"] != 0):
        errors.append("kept != (ret != 0)")
    if obj["event"] == "get" and obj["hit"] != (obj["ret"] is not None):
        errors.append("hit != (ret != null)")
    if obj["event"] == "store_op" and obj["outcome"] not in STORE_OUTCOMES[obj["op"]]:
        errors.append("store_op: %s is not an outcome of %s" % (obj["outcome"], obj["op"]))
    return errors


# Which outcomes each store operation has (the schema lists them all).
STORE_OUTCOMES = {
    "get": {"app_hit", "local_hit", "miss", "error", "auth_fail", "incompatible", "expired",
            "remote_hit", "timeout", "breaker_open", "remote_error", "unavailable", "rate_limited"},
    "put": {"ok", "too_large", "skipped_tls13_stateless", "skipped_no_id", "backend_error", "queue_dropped",
            "remote_ok", "remote_error"},
    "remove": {"propagated", "ignored", "rate_limited", "error"},
}


def line_errors(obj, validator=None):
    """Why one parsed line is not a documented sesscb event ([] if it is)."""
    errors = (validator or schema_validator()).validate(obj)
    return errors or invariants(obj)


class ParsedTrace:
    """A trace's lines: `events` (every line that parsed as a JSON object),
    `errors` ("line N: why: text"), `bad_lines` (lines with an error)."""

    def __init__(self, text, validator=None):
        self.text = text
        self.events = []
        self.errors = []
        self.bad_lines = 0
        validator = validator or schema_validator()
        for n, line in enumerate(text.splitlines(), 1):
            why = self._parse(line, validator)
            if why:
                self.bad_lines += 1
                self.errors += ["line %d: %s: %r" % (n, w, line[:200]) for w in why]
        if text and not text.endswith("\n"):
            self.errors.append("last line is not newline-terminated (partial write?)")

    def _parse(self, line, validator):
        try:
            obj = json.loads(line)
        except ValueError as e:
            return ["invalid JSON (%s)" % e]
        if not isinstance(obj, dict):
            return ["not a JSON object"]
        self.events.append(obj)
        return line_errors(obj, validator)


def parse_trace(data, validator=None):
    """A ParsedTrace of raw bytes; undecodable bytes are an error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        trace = ParsedTrace(data.decode("utf-8", errors="replace"), validator)
        trace.errors.insert(0, "not UTF-8: %s" % e)
        return trace
    return ParsedTrace(text, validator)


def read_trace(path, validator=None):
    """A ParsedTrace of the file at `path` (a missing file reads as empty)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    return parse_trace(data, validator)
