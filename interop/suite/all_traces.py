"""Every trace a run wrote (servers, clients, twossl, upgrades) against
docs/trace-schema.json: a line whose event or field the schema lacks fails
the suite even where no other check reads that trace."""

import glob
import os

from . import config as cfg
from .report import R
from .traces import read_trace


def check_all_traces():
    paths = sorted(glob.glob(os.path.join(cfg.FX.tmp, "**", "*.jsonl"), recursive=True))
    problems, lines = [], 0
    for path in paths:
        parsed = read_trace(path)
        lines += len(parsed.events)
        problems += ["%s: %s" % (os.path.relpath(path, cfg.FX.tmp), e) for e in parsed.errors]
    schema = os.path.relpath(cfg.SCHEMA, cfg.ROOT)
    R.check("traces: every SESSCB_LOG file of the run is valid per %s" % schema, not problems,
            "%d files, %d lines; %s" % (len(paths), lines, "; ".join(problems[:3])))
