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
    """validate(instance) -> list of error strings ("where: what").

    The schema is compiled once into one closure per node ($ref resolved),
    so a line costs a few function calls per field: traces of a hundred
    thousand lines validate in seconds."""

    def __init__(self, schema):
        check_subset(schema)
        self.root = schema
        self._compiled = {}
        self._check = self._compile(schema)

    def validate(self, instance):
        return self._check(instance, "")

    def _resolve(self, ref):
        node = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _compile(self, schema):
        if id(schema) in self._compiled:
            return self._compiled[id(schema)]
        if isinstance(schema, bool):
            fn = (lambda v, w: []) if schema else (lambda v, w: ["%s: not allowed" % (w or "line")])
            self._compiled[id(schema)] = fn
            return fn
        parts = [p for p in (self._ref(schema), scalar(schema), self._object(schema),
                             self._combinators(schema), self._conditional(schema)) if p]

        def check(value, where):
            errors = []
            for part in parts:
                errors += part(value, where)
            return errors
        self._compiled[id(schema)] = check
        return check

    def _ref(self, schema):
        if "$ref" not in schema:
            return None
        return self._compile(self._resolve(schema["$ref"]))

    def _object(self, schema):
        required = schema.get("required", ())
        props = {k: self._compile(v) for k, v in schema.get("properties", {}).items()}
        extra = schema.get("additionalProperties", True)
        extra_check = self._compile(extra) if isinstance(extra, dict) else None
        if not required and not props and extra is True:
            return None

        def check(value, where):
            if not isinstance(value, dict):
                return []
            errors = ["missing field '%s'" % k for k in required if k not in value]
            for key, item in value.items():
                if key in props:
                    errors += props[key](item, "%s.%s" % (where, key) if where else key)
                elif extra is False:
                    errors.append("unknown field '%s'" % key)
                elif extra_check:
                    errors += extra_check(item, "%s.%s" % (where, key) if where else key)
            return errors
        return check

    def _combinators(self, schema):
        all_of = [self._compile(s) for s in schema.get("allOf", ())]
        negated = self._compile(schema["not"]) if "not" in schema else None
        one_of = self._one_of(schema["oneOf"]) if "oneOf" in schema else None
        if not all_of and not negated and not one_of:
            return None
        not_text = json.dumps(schema.get("not"))

        def check(value, where):
            errors = []
            for sub in all_of:
                errors += sub(value, where)
            if negated and not negated(value, where):
                errors.append("%s: must not match %s" % (where or "line", not_text))
            if one_of:
                errors += one_of(value, where)
            return errors
        return check

    def _one_of(self, branches):
        compiled = [(self._branch_consts(b), self._compile(b)) for b in branches]

        def check(value, where):
            # An alternative whose constant field the value has with another
            # value fails on that field: skip it. The one (if any) that the
            # value's constants select is the one whose errors are reported.
            passing, selected = 0, []
            for consts, sub in compiled:
                if isinstance(value, dict) and any(k in value and not same(value[k], c) for k, c in consts.items()):
                    continue
                errors = sub(value, where)
                passing += not errors
                if consts and isinstance(value, dict) and all(k in value for k in consts):
                    selected.append(errors)
            if passing == 1:
                return []
            if passing > 1:
                return ["%s: matches %d alternatives, exactly one expected" % (where or "line", passing)]
            if len(selected) == 1:
                return selected[0]
            return ["%s: matches none of %d alternatives" % (where or "line", len(branches))]
        return check

    def _branch_consts(self, branch):
        """{field: const} that a oneOf alternative requires of an object."""
        while "$ref" in branch and "properties" not in branch:
            branch = self._resolve(branch["$ref"])
        props = branch.get("properties", {})
        return {k: p["const"] for k, p in props.items() if isinstance(p, dict) and "const" in p}

    def _conditional(self, schema):
        if "if" not in schema:
            return None
        test = self._compile(schema["if"])
        then = self._compile(schema.get("then", True))
        otherwise = self._compile(schema.get("else", True))

        def check(value, where):
            return then(value, where) if not test(value, where) else otherwise(value, where)
        return check


def scalar(schema):
    """type, const, enum, pattern, minimum (after a type error, nothing else)."""
    kinds = schema.get("type")
    kinds = None if kinds is None else (kinds if isinstance(kinds, list) else [kinds])
    tests = [TYPES[k] for k in kinds] if kinds else None
    has_const, const = "const" in schema, schema.get("const")
    enum = schema.get("enum")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    minimum = schema.get("minimum")
    if not (tests or has_const or enum is not None or pattern or minimum is not None):
        return None

    def check(value, where):
        name = where or "line"
        if tests and not any(t(value) for t in tests):
            return ["%s: %s is not of type %s" % (name, show(value), "/".join(kinds))]
        errors = []
        if has_const and not same(value, const):
            errors.append("%s: %s is not %s" % (name, show(value), show(const)))
        if enum is not None and not any(same(value, e) for e in enum):
            errors.append("%s: %s is not one of %s" % (name, show(value), ", ".join(map(show, enum))))
        if pattern and isinstance(value, str) and not pattern.search(value):
            errors.append("%s: %s does not match %s" % (name, show(value), pattern.pattern))
        if minimum is not None and TYPES["number"](value) and value < minimum:
            errors.append("%s: %s is below %s" % (name, show(value), minimum))
        return errors
    return check


def same(a, b):
    """JSON equality (true is not 1)."""
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b
