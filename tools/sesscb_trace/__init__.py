"""The SESSCB_LOG trace, read once for every suite: docs/trace-schema.json
defines each line; tests-c/host/check_log.py and interop/ import this
package to parse and validate traces (standard library only)."""

from .reader import SCHEMA_PATH, ParsedTrace, line_errors, parse_trace, read_trace, schema_validator
from .validator import SchemaError, Validator

__all__ = ["SCHEMA_PATH", "ParsedTrace", "SchemaError", "Validator", "line_errors", "parse_trace", "read_trace",
           "schema_validator"]
