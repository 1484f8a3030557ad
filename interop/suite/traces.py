"""Counts from a sesscb trace (SESSCB_LOG). Lines are parsed and validated
against docs/trace-schema.json by tools/sesscb_trace, the reader the
host-safety checker uses too."""

import collections
import os
import sys

from . import config as cfg

sys.path.insert(0, os.path.join(cfg.ROOT, "tools"))
import sesscb_trace  # noqa: E402  (found through the path above)


def read_trace(path):
    """The trace at `path`, parsed and validated against cfg.SCHEMA."""
    return sesscb_trace.read_trace(path, sesscb_trace.schema_validator(cfg.SCHEMA))


class Trace:
    """Counts from a SESSCB_LOG JSON-lines file. A ctx is a server ctx when a
    get callback was set on it (servers set get; clients only new/remove)."""

    def __init__(self, path, client_ordinals=()):
        """client_ordinals: positions (0-based, in order of first set event)
        of ctxs known to be client ctxs although a get callback is set on
        them (stunnel sets all three on every service)."""
        self.path = path
        parsed = read_trace(path)
        self.events = parsed.events
        # Lines that are not valid JSON or not valid per the schema.
        self.errors = parsed.errors
        self.bad_lines = parsed.bad_lines
        self.c = collections.Counter()
        self.resolves = [e for e in self.events if e.get("event") == "resolve"]
        self.bad = [e for e in self.events if e.get("event") in cfg.BAD_EVENTS]
        self.pids = collections.defaultdict(collections.Counter)  # pid -> event counts
        self.orphan_hits = 0
        self.client_ordinals = client_ordinals
        self.kinds = collections.defaultdict(set)  # ctx -> callbacks set on it now
        self.order = []  # ctxs in order of their first set event
        self.server_ctxs = set()
        self.new_sids = set()
        for e in self.events:
            self._count(e)
        # distinct (pid, ctx) that had a get callback set at some point
        self.set_server_ctxs = len(self.server_ctxs)

    def _count(self, e):
        ev = e.get("event")
        self.pids[e.get("pid")][ev] += 1
        if ev == "set":
            self._count_set(e)
        elif ev == "ctx_free":
            self.c["ctx_free"] += 1
            self.kinds.pop(e.get("ctx"), None)
        elif ev in ("new", "get", "remove"):
            self._count_callback(e, ev)

    def _count_set(self, e):
        ctx, cb = e.get("ctx"), e.get("cb")
        if ctx not in self.order:
            self.order.append(ctx)
        if e.get("fn"):
            self.kinds[ctx].add(cb)
            if cb == "get" and self.order.index(ctx) not in self.client_ordinals:
                self.server_ctxs.add((e.get("pid"), ctx))
            self.c["set_" + cb] += 1
            self.c["route_" + str(e.get("route"))] += 1
        elif cb in self.kinds[ctx]:
            self.kinds[ctx].discard(cb)

    def _count_callback(self, e, ev):
        clients = {self.order[i] for i in self.client_ordinals if i < len(self.order)}
        if e.get("ctx") in clients:
            side = "client"
        else:
            side = "server" if "get" in self.kinds.get(e.get("ctx"), ()) else "client"
        self.c["%s_%s" % (ev, side)] += 1
        if ev == "new":
            self.new_sids.add(e.get("sid"))
        elif ev == "get" and e.get("hit"):
            self.c["get_hit_" + side] += 1
            if e.get("sid") not in self.new_sids:
                self.orphan_hits += 1

    def get(self, key):
        return self.c.get(key, 0)

    def summary(self):
        keys = ("new_server", "get_server", "get_hit_server", "remove_server", "new_client", "remove_client",
                "ctx_free")
        return " ".join("%s=%d" % (k, self.get(k)) for k in keys)
