"""A validator for the subset of JSON Schema (draft 2020-12) that
docs/trace-schema.json uses.

Why not the `jsonschema` package: the host-safety checker and the interop
suite run under Debian's /usr/bin/python3 with the standard library only,
and the subset is small. To keep the two from drifting apart, loading a
schema that uses any keyword outside the subset fails, so the schema can
never say something this validator silently ignores.
"""

import json
import re

# Keywords that constrain instances.
ASSERTIONS = {
    "type", "enum", "const", "pattern", "minimum", "required", "properties",
    "additionalProperties", "oneOf", "allOf", "not", "if", "then", "else", "$ref",
}
# Keywords that only annotate or hold definitions.
ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title", "description"}
# Keywords whose value is a map of name -> schema / a list of schemas / a schema.
SCHEMA_MAPS = {"properties", "$defs"}
SCHEMA_LISTS = {"oneOf", "allOf"}
SCHEMA_VALUES = {"not", "if", "then", "else"}

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


class SchemaError(Exception):
    """The schema uses something this validator does not implement."""


def check_subset(schema, where="#"):
    """Raises SchemaError if `schema` uses a keyword outside the subset."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaError("%s: a schema must be an object" % where)
    for key, value in schema.items():
        if key not in ASSERTIONS and key not in ANNOTATIONS:
            raise SchemaError("%s: keyword %r is not supported by tools/sesscb_trace" % (where, key))
        if key in SCHEMA_MAPS:
            for name, sub in value.items():
                check_subset(sub, "%s/%s/%s" % (where, key, name))
        elif key in SCHEMA_LISTS:
            for i, sub in enumerate(value):
                check_subset(sub, "%s/%s/%d" % (where, key, i))
        elif key in SCHEMA_VALUES or (key == "additionalProperties" and isinstance(value, dict)):
            check_subset(value, "%s/%s" % (where, key))
        elif key == "$ref" and not value.startswith("#/"):
            raise SchemaError("%s: only local $ref is supported, not %r" % (where, value))


def show(value):
    return repr(value) if not isinstance(value, str) else "'%s'" % value


class Validator:
    """validate(instance) -> list of error strings ("where: what")."""

    def __init__(self, schema):
        check_subset(schema)
        self.root = schema

    def validate(self, instance):
        return self._errors(self.root, instance, "")

    def _resolve(self, ref):
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _errors(self, schema, value, where):
        if schema is True:
            return []
        if schema is False:
            return ["%s: not allowed" % (where or "line")]
        errors = []
        for check in (self._ref, self._scalar, self._object, self._combinators, self._conditional):
            errors += check(schema, value, where)
        return errors

    def _ref(self, schema, value, where):
        if "$ref" not in schema:
            return []
        return self._errors(self._resolve(schema["$ref"]), value, where)

    def _scalar(self, schema, value, where):
        name = where or "line"
        if "type" in schema:
            kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(TYPES[k](value) for k in kinds):
                return ["%s: %s is not of type %s" % (name, show(value), "/".join(kinds))]
        errors = []
        if "const" in schema and not same(value, schema["const"]):
            errors.append("%s: %s is not %s" % (name, show(value), show(schema["const"])))
        if "enum" in schema and not any(same(value, e) for e in schema["enum"]):
            errors.append("%s: %s is not one of %s" % (name, show(value), ", ".join(map(show, schema["enum"]))))
        if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
            errors.append("%s: %s does not match %s" % (name, show(value), schema["pattern"]))
        if "minimum" in schema and TYPES["number"](value) and value < schema["minimum"]:
            errors.append("%s: %s is below %s" % (name, show(value), schema["minimum"]))
        return errors

    def _object(self, schema, value, where):
        if not isinstance(value, dict):
            return []
        errors = ["missing field '%s'" % k for k in schema.get("required", ()) if k not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = "%s.%s" % (where, key) if where else key
            if key in props:
                errors += self._errors(props[key], item, sub)
            elif extra is False:
                errors.append("unknown field '%s'" % key)
            elif isinstance(extra, dict):
                errors += self._errors(extra, item, sub)
        return errors

    def _combinators(self, schema, value, where):
        errors = []
        for sub in schema.get("allOf", ()):
            errors += self._errors(sub, value, where)
        if "not" in schema and not self._errors(schema["not"], value, where):
            errors.append("%s: must not match %s" % (where or "line", json.dumps(schema["not"])))
        if "oneOf" in schema:
            errors += self._one_of(schema["oneOf"], value, where)
        return errors

    def _one_of(self, branches, value, where):
        results = [self._errors(b, value, where) for b in branches]
        passing = sum(1 for r in results if not r)
        if passing == 1:
            return []
        if passing > 1:
            return ["%s: matches %d alternatives, exactly one expected" % (where or "line", passing)]
        # None matches: report the alternative the value's own constants
        # select (for a trace line, the one of its event), if any.
        chosen = [r for b, r in zip(branches, results) if self._selected_by_consts(b, value)]
        if len(chosen) == 1:
            return chosen[0]
        return ["%s: matches none of %d alternatives" % (where or "line", len(branches))]

    def _branch_consts(self, branch):
        """{field: const} that a oneOf alternative requires of an object."""
        while "$ref" in branch and "properties" not in branch:
            branch = self._resolve(branch["$ref"])
        props = branch.get("properties", {})
        return {k: p["const"] for k, p in props.items() if isinstance(p, dict) and "const" in p}

    def _selected_by_consts(self, branch, value):
        consts = self._branch_consts(branch)
        return bool(consts) and isinstance(value, dict) and all(
            k in value and same(value[k], c) for k, c in consts.items())

    def _conditional(self, schema, value, where):
        if "if" not in schema:
            return []
        if not self._errors(schema["if"], value, where):
            return self._errors(schema.get("then", True), value, where)
        return self._errors(schema.get("else", True), value, where)


def same(a, b):
    """JSON equality (true is not 1)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
