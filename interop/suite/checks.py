"""The assertions every server run shares: (a) same resumption outcomes
plain vs sesscb, (b) sesscb in the path (trace and maps), (c) no crash and
no error line that only appears with sesscb."""

import collections
import glob
import json
import os
import re

from . import config as cfg
from .clients import Clients
from .procs import maps_has_sesscb
from .report import R, fmt_flags, log
from .traces import Trace


class Run:
    """One server start (one variant, one TLS version)."""

    def __init__(self, server, tls, variant, run_dir):
        self.server, self.tls, self.variant, self.dir = server, tls, variant, run_dir
        self.flags = collections.OrderedDict()   # scenario -> [resumed?] (server-side handshakes)
        self.upstream = collections.OrderedDict()  # scenario -> [resumed?] (the server acting as TLS client)
        self.expect_upstream_full = {}           # scenario -> full handshakes the server must do as a client
        self.poisoned = 0
        self.rc = None
        self.error_lines = []
        self.all_logs = ""
        self.trace = None
        self.maps = None
        self.main_pid = None
        self.clients = Clients(run_dir, variant)
        self.info = {}

    @property
    def name(self):
        return "%s TLS%s %s" % (self.server, self.tls, self.variant)

    def server_flags(self):
        out = []
        for fl in self.flags.values():
            if fl:
                out += fl
        for fl in self.upstream.values():  # the backend end of upstream connections is a server handshake
            if fl:
                out += fl
        return out


NORMALIZE = [
    (re.compile(r"\d{4}[/.-]\d\d[/.-]\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?"), "<ts>"),
    (re.compile(r"\[(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\]]*\]"), "<ts>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "<hex>"),
    (re.compile(r"\b[0-9A-Fa-f]{8,}\b"), "<hex>"),
    (re.compile(r"\d+"), "<n>"),
]


def normalize(line):
    for rx, rep in NORMALIZE:
        line = rx.sub(rep, line)
    return line.strip()


def server_started(r, p, ready, detail):
    """Checks that the server came up; records its pid and, in the sesscb
    variant, whether its maps show libsesscb."""
    if not R.check("%s: started" % r.name, ready, detail):
        return False
    r.main_pid = p.pid
    r.maps = maps_has_sesscb(p.pid) if r.variant == "sesscb" else None
    return True


def common_checks(r, error_re):
    """(c) for one run: crash signatures and error lines (returned for the
    plain/sesscb differential)."""
    R.check("%s: no crash signature in logs" % r.name, not cfg.CRASH_RE.search(r.all_logs),
            (cfg.CRASH_RE.search(r.all_logs) or [""])[0])
    r.error_lines = sorted({normalize(l.replace(r.dir, "<dir>")) for l in r.all_logs.splitlines()
                            if error_re.search(l)})
    for e in r.clients.errors:
        R.check("%s: client ran" % r.name, False, e)


def finish_checks(r, logs, error_re, trace_checks):
    """After the server stopped: (c) on its logs, then for the sesscb variant
    trace_checks(r), its (b); returns r."""
    r.all_logs = logs
    common_checks(r, error_re)
    if r.variant == "sesscb":
        trace_checks(r)
    return r


def sesscb_checks(r, libssl, min_server_ctxs=1, internal_cache=False, client_ordinals=()):
    """(b) for one sesscb run. internal_cache: the server also keeps
    OpenSSL's internal cache, so get callbacks only fire on internal misses."""
    t = r.trace = Trace(os.path.join(r.dir, "sesscb.jsonl"), client_ordinals)
    name = r.name
    R.check("%s: trace is valid JSON lines per docs/trace-schema.json" % name, not t.errors and t.events,
            "%d bad lines, %d events; %s" % (t.bad_lines, len(t.events), "; ".join(t.errors[:2])))
    R.check("%s: resolve event names %s" % (name, libssl),
            any(libssl in e.get("libssl", "") for e in t.resolves), resolves_detail(t))
    R.check("%s: no error events in trace" % name, not t.bad, json.dumps(t.bad[:2]))
    R.check("%s: server set new/get/remove callbacks through sesscb" % name,
            t.set_server_ctxs >= min_server_ctxs and t.get("set_new") and t.get("set_remove"),
            "server ctxs %d, sets %s" % (t.set_server_ctxs, {k: v for k, v in t.c.items() if k.startswith("set_")}))
    if r.maps is not None:
        R.check("%s: /proc/PID/maps of the server shows libsesscb" % name, r.maps is True)
    flags = r.server_flags()
    full, resumed, hs = flags.count(False), flags.count(True), len(flags)
    detail = "trace: %s; clients saw %d handshakes, %d full, %d resumed" % (t.summary(), hs, full, resumed)
    server_callback_checks(r, t, internal_cache, (full, resumed, hs), detail)
    upstream_checks(r, t, detail)
    client_checks(r)
    R.traces.append((r.server, r.tls, len(set(e.get("pid") for e in t.events)),
                     len(set(e.get("tid") for e in t.events if e.get("event") in ("new", "get", "remove"))),
                     t.get("new_server"), "%d/%d" % (t.get("get_hit_server"), t.get("get_server")),
                     t.get("remove_server"), t.get("new_client"), t.get("remove_client"), t.get("ctx_free"),
                     "%d/%d" % (resumed, hs)))
    if cfg.VERBOSE:
        log("    %s %s" % (name, detail))


def resolves_detail(t):
    return "; ".join("%s by %s" % (e.get("libssl"), e.get("found_by")) for e in t.resolves) or "no resolve event"


def server_callback_checks(r, t, internal_cache, handshakes, detail):
    """The server's callbacks against the handshakes its clients saw."""
    name = r.name
    full, resumed, hs = handshakes
    if r.tls == "1.2":
        ok = t.get("new_server") == full
        R.check("%s: server new callbacks == full handshakes (%d)" % (name, full), ok, detail)
    else:
        ok = t.get("new_server") >= hs
        R.check("%s: server new callbacks >= handshakes (%d): one ticket at least each" % (name, hs), ok, detail)
    if internal_cache:
        R.check("%s: server get callbacks on internal-cache misses (>= %d after removals)" % (name, r.poisoned),
                t.get("get_server") >= r.poisoned, detail)
        R.check("%s: get callbacks of client ctxs: none" % name, t.get("get_client") == 0, detail)
    else:
        R.check("%s: server get hits >= resumptions (%d)" % (name, resumed), t.get("get_hit_server") >= resumed,
                detail)
    R.check("%s: every get hit returns a session id seen in a new event" % name, t.orphan_hits == 0,
            "%d orphan hits" % t.orphan_hits)
    if r.poisoned:
        R.check("%s: remove callback fired for the poisoned session(s)" % name,
                t.get("remove_server") >= r.poisoned, detail)


def upstream_checks(r, t, detail):
    """The server acting as a TLS client (proxying): its new callbacks."""
    for scen, fl in r.upstream.items():
        if fl is None:
            continue
        want = r.expect_upstream_full.get(scen)
        up_full = fl.count(False)
        if r.tls == "1.2" and want is not None:
            R.check("%s: client-side new callbacks == upstream full handshakes (%d) [%s]" % (r.name, up_full, scen),
                    t.get("new_client") == up_full, detail)
        else:
            R.check("%s: client-side new callbacks fired [%s]" % (r.name, scen), t.get("new_client") >= 1, detail)


def client_checks(r):
    """The clients' own traces (sesscb variant): no error events; curl, which
    caches sessions through SSL_CTX_sess_set_new_cb, shows client new events."""
    curl_new = 0
    curl_logs = 0
    for path in sorted(glob.glob(os.path.join(r.dir, "client-*.jsonl"))):
        t = Trace(path)
        if t.bad or t.errors:
            R.check("%s: client trace %s clean" % (r.name, os.path.basename(path)), False,
                    "; ".join([json.dumps(t.bad[:2])] + t.errors[:2]))
        if "-curl" in path:
            curl_logs += 1
            curl_new += t.get("new_client")
    if curl_logs:
        R.check("%s: curl (preloaded) client new callbacks fired" % r.name, curl_new >= 1,
                "%d new events in %d curl traces" % (curl_new, curl_logs))


def compare(server, tls, runs, equivalent=None):
    """(a): identical resumption outcomes, and error-line differential (c)."""
    plain, cb = runs.get("plain"), runs.get("sesscb")
    if not plain or not cb:
        return
    scenarios = list(plain.flags) + [s for s in plain.upstream]
    for scen in scenarios:
        pf = plain.flags.get(scen, plain.upstream.get(scen))
        sf = cb.flags.get(scen, cb.upstream.get(scen))
        if equivalent and scen in equivalent:
            ok = pf is not None and sf is not None and equivalent[scen](plain, pf) and equivalent[scen](cb, sf)
            verdict = "equiv" if ok else "DIFF"
        else:
            ok = pf is not None and pf == sf
            verdict = "same" if ok else "DIFF"
        R.row(server, tls, scen, fmt_flags(pf), fmt_flags(sf), verdict)
        R.check("%s TLS%s %s: same resumption outcome plain vs sesscb" % (server, tls, scen), ok,
                "plain %s, sesscb %s" % (pf, sf))
    new_errors = [l for l in cb.error_lines if l not in plain.error_lines]
    R.check("%s TLS%s: no error line only with sesscb" % (server, tls), not new_errors, " | ".join(new_errors[:3]))
    R.check("%s TLS%s: clean shutdown plain (rc %s) and sesscb (rc %s)" % (server, tls, plain.rc, cb.rc),
            plain.rc == cb.rc and plain.rc in (0,), "")


def standard_battery(r, port, sni, tls, curl_flags, path="/"):
    """s_client, curl, python reuse and the poisoned session."""
    c = r.clients
    if tls == "1.2":
        r.flags["s_client"] = c.s_client_reconnect(port, sni)
    else:
        r.flags["s_client"] = c.s_client_chain(port, sni, tls)
    out = c.curl(port, sni, tls, [path] * 4)
    r.flags["curl"] = curl_flags(out) if out is not None else None
    if r.flags["curl"] is not None and len(r.flags["curl"]) != 4:
        c.errors.append("curl: expected 4 responses, parsed %s" % r.flags["curl"])
        r.flags["curl"] = None
    r.flags["python"] = c.python("reuse", port, sni, tls)
    r.flags["poison"] = c.python("poison", port, sni, tls)
    r.poisoned += 1


def expect_poison(flags):
    return flags is not None and flags == [False, False]


def check_poison(runs):
    """The poisoned session (python client `poison`) is never resumed."""
    for r in runs.values():
        poison = r.flags.get("poison")
        R.check("%s: poisoned session not resumed" % r.name, expect_poison(poison), str(poison))


def proxy_equiv(r, flags):
    """Upstream sessions live per worker/thread: the first upstream
    connection of each is full, every later one resumes."""
    want = r.expect_upstream_full.get("proxy")
    return flags is not None and want is not None and flags.count(False) == want and len(flags) > want


def check_proxy(runs, units):
    """Proxy servers: one full upstream handshake per worker or thread."""
    for r in runs.values():
        if r.info.get("proxy_worker_pids") is not None:
            R.check("%s: proxy upstream full handshakes == %s used (%d)" % (r.name, units,
                    r.info["proxy_worker_pids"]), proxy_equiv(r, r.upstream.get("proxy")),
                    "upstream %s" % r.upstream.get("proxy"))
        poison = r.flags.get("poison")
        R.check("%s: poisoned session not resumed" % r.name, expect_poison(poison), str(poison))
