"""The shared store's proofs with real processes (issue 9, item 9), each a
count from real servers that can come out wrong:

- store-lifetime: a TLS 1.3 renewal chain (each connection offers the
  session the previous one got) stops resuming once the original full
  handshake is SESSCB_STORE_MAX_LIFETIME old, although every renewal issued
  a fresh session; plain OpenSSL in one process keeps resuming. And
  SESSCB_STORE_MAX_TTL clamps: an entry is not resumed once it has passed.
- store-versions: a session stored by an OpenSSL 1.1.1w process is refused
  by a 3.x process and the reverse (another major version's DER), while 3.0
  and 3.5 (same major) resume each other's.
- store-sidctx: a session from a server with another session id context is
  found in the store (the trace shows the store's hit) and refused by
  OpenSSL itself: a full handshake; the same context resumes.
- store-sanitizers: `openssl s_server` under valgrind (sesscb preloaded)
  and an ASan+UBSan C server (sesscb linked before -lssl) each resume
  sessions another process stored, and exit clean.

Servers are `s_server -no_ticket` (TLS 1.2 ids, TLS 1.3 stateful sessions)
in provide mode unless a case says -ext_cache (augment)."""

import collections
import json
import os
import re
import signal
import subprocess
import threading
import time

from . import config as cfg
from .files import read_text
from .procs import Proc, base_env, free_port, tool, wait_until
from .report import R
from .store import DOMAIN, SESSCB, connect, on, store_env
from .traces import read_trace

LIFETIME = 3
CHAIN_STEPS = 5
# How often servers fold their store counters into the store's totals (ms).
FOLD_MS = 100
ASAN_SERVER = os.path.join(cfg.ROOT, "target", "tests-c", "store", "store-server-asan")
ASAN_REPORT_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: ")
VALGRIND_LINE_RE = re.compile(r"^==\d+==", re.M)


def tests():
    return [("store-lifetime", test_lifetime), ("store-versions", test_versions),
            ("store-sidctx", test_sid_ctx), ("store-sanitizers", test_sanitizers),
            ("store-removes", test_removes)]


# ------------------------------------------------------------ servers


def openssl_build(name):
    """(openssl binary, its lib dir or None) of a build: sys, 1.1.1w, 3.5, 4.0."""
    prefix = {"1.1.1w": cfg.OSSL111, "3.5": cfg.OSSL35, "4.0": cfg.OSSL40}.get(name)
    if prefix is None:
        return "openssl", None
    return os.path.join(prefix, "bin", "openssl"), os.path.join(prefix, "lib")


def start(d, name, env, flags, build="sys", wrapper=(), timeout=10):
    """An s_server of `build` on a free port; (proc, port, started)."""
    binary, libdir = openssl_build(build)
    if libdir:
        env = dict(env, LD_LIBRARY_PATH=libdir)
    port = free_port()
    argv = list(wrapper) + [binary, "s_server", "-accept", "127.0.0.1:%d" % port, "-www",
                            "-cert", os.path.join(d, "pki/a.test.crt"),
                            "-key", os.path.join(d, "pki/a.test.key"), "-no_ticket"] + flags
    out = os.path.join(d, name + ".out")
    p = Proc(name, argv, env, out, os.path.join(d, name + ".err"))
    p.trace = env.get("SESSCB_LOG")
    ok = wait_until(lambda: "ACCEPT" in read_text(out) or not p.alive(), timeout) and p.alive()
    return p, port, ok


def stop_all(procs):
    """SIGTERM each; their exit statuses."""
    return [p.stop(signal.SIGTERM, 5) for p in procs]


def store_on(d, **settings):
    """The store on in `d`, plus SESSCB_STORE_* settings."""
    env = on(d)
    env.update({"SESSCB_STORE_" + k.upper(): str(v) for k, v in settings.items()})
    return store_env(d, env)


def crashed(procs):
    return [p.name for p in procs if cfg.CRASH_RE.search(read_text(p.err_path))]


def server_session_id(path):
    """The id the server knows a session by (hex, lower case), from an
    s_client -sess_out file: TLS 1.3's stateful ticket is that id (the
    client's own Session-ID is a hash of it); TLS 1.2's Session-ID is."""
    r = subprocess.run(["openssl", "sess_id", "-in", path, "-noout", "-text"], capture_output=True,
                       timeout=15, env=base_env())
    text = r.stdout.decode(errors="replace")
    ticket = text.partition("TLS session ticket:\n")[2]
    dump = re.findall(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){1,16})", ticket, re.M)
    if dump:
        return "".join(line.replace("-", " ").replace(" ", "") for line in dump)
    m = re.search(r"Session-ID: ([0-9A-Fa-f]+)", text)
    return m.group(1).lower() if m else None


def stats_counters(d):
    """`sesscb stats --json` of the case's store, flattened to {key: int}."""
    r = subprocess.run([SESSCB, "stats", "--dir", os.path.join(d, "store"), "--domain", DOMAIN, "--json"],
                       capture_output=True, timeout=15)
    try:
        doc = json.loads(r.stdout or b"{}")
    except ValueError:
        return {}
    flat = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(prefix + k + ".", x)
        elif isinstance(v, int) and not isinstance(v, bool):
            flat[prefix[:-1]] = v
    walk("", doc)
    return flat


# ------------------------------------------------------------ lifetime


def align_second(frac=0.05):
    """Sleeps to `frac` past the next whole second: sessions and entries
    carry whole seconds, so each step below lands mid-second, away from the
    boundary where the lifetime ends."""
    now = time.time()
    time.sleep((1 - (now % 1)) + frac)
    return int(time.time())


def chain_step(port, prev, d, name, i):
    """One link: offers `prev`, saves the session it gets; (result, session file)."""
    nxt = os.path.join(d, "%s-%d.pem" % (name, i))
    return connect(port, "1.3", sess_out=nxt, sess_in=prev), nxt


class Chain:
    """A renewal chain: a full handshake on `first`, then each link offers
    the previous connection's session, on `links` in turn. `results`:
    (start, end, New/Reused/None), seconds after the whole second the first
    handshake began in."""

    def __init__(self, d, name, first, links):
        self.d, self.name, self.first, self.links = d, name, first, links
        self.results, self.prev, self.began = [], None, None

    def begin(self, base):
        r, self.prev = chain_step(self.first, None, self.d, self.name, 0)
        self.began = (r, time.time() - base)

    def step(self, i, base):
        start = time.time() - base
        r, nxt = chain_step(self.links[(i - 1) % len(self.links)], self.prev, self.d, self.name, i)
        self.results.append((start, time.time() - base, r))
        if os.path.exists(nxt) and os.path.getsize(nxt):
            self.prev = nxt

    def shown(self):
        return " ".join("%.1fs:%s" % (s, r[0] if r else "-") for s, _, r in self.results)


def in_parallel(calls):
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def run_chains(chains):
    """The chains side by side: their first full handshakes just after a
    whole second (`base`: the original authentication time every server
    stamps), then one link each at +1.4 s, +2.4 s, ... (mid-second, away
    from the whole second where the lifetime ends)."""
    base = align_second()
    in_parallel([lambda c=c: c.begin(base) for c in chains])
    for i in range(1, CHAIN_STEPS + 1):
        time.sleep(max(0.0, base + i + 0.4 - time.time()))
        in_parallel([lambda c=c: c.step(i, base) for c in chains])


def lifetime_verdict(chain):
    """(ok, why) for a store chain: links that ended before base+LIFETIME
    resumed; the first link that began after it was a full handshake; the
    links after that resumed (a new chain, authenticated anew)."""
    r0, end0 = chain.began or (None, 9)
    if r0 != "New" or end0 >= 1:
        return False, "first handshake %s ended at +%.2fs (must be New within the second)" % (r0, end0)
    seen_new = False
    for start, end, r in chain.results:
        if start < LIFETIME <= end:
            return False, "a link straddled +%ds (%.2f..%.2f): too slow to tell" % (LIFETIME, start, end)
        want = "Reused" if end < LIFETIME or seen_new else "New"
        if r != want:
            return False, "at +%.1fs: %s, want %s" % (start, r, want)
        seen_new = seen_new or start >= LIFETIME
    return seen_new, "" if seen_new else "no link after +%ds" % LIFETIME


def test_lifetime():
    """Chains side by side: on store servers A and B (system OpenSSL, and
    the same pair on 1.1.1w), and on one plain server."""
    d, dp = cfg.FX.rundir("store-lifetime"), cfg.FX.rundir("store-lifetime-plain")
    names = [("a", "sys"), ("b", "sys"), ("a111", "1.1.1w"), ("b111", "1.1.1w")]
    servers = [start(d, n, store_on(d, max_lifetime=LIFETIME), [], build=b) for n, b in names]
    servers.append(start(dp, "p", store_env(dp), []))
    # Augment: B's own cache (-ext_cache, the application's callbacks) must
    # not keep a renewal longer than the store would.
    servers += [start(d, n, store_on(d, max_lifetime=LIFETIME), ["-ext_cache"]) for n in ("ea", "eb")]
    procs = [s[0] for s in servers]
    try:
        if not R.check("store lifetime: servers started", all(s[2] for s in servers)):
            return
        (_, a, _), (_, b, _), (_, a111, _), (_, b111, _), (_, p, _), (_, ea, _), (_, eb, _) = servers
        store_chains = [(Chain(d, "alternating", a, [b, a]), "alternating A and B (every link from the store)"),
                        (Chain(d, "b-only", a, [b]), "made on A, renewed on B (B's own cache after link 1)"),
                        (Chain(d, "b-only-1.1.1w", a111, [b111]), "on 1.1.1w, made on A, renewed on B"),
                        (Chain(d, "b-only-augment", ea, [eb]),
                         "made on A, renewed on B, augment (B's -ext_cache after link 1)")]
        plain = Chain(dp, "plain", p, [p])
        run_chains([c for c, _ in store_chains] + [plain])
        lifetime_checks(store_chains, plain)
    finally:
        rcs = stop_all(procs)
    R.check("store lifetime: no crash", not crashed(procs) and None not in rcs, "exit %s" % rcs)
    ttl_clamp()


def lifetime_checks(store_chains, plain):
    plain_ok = plain.began and plain.began[0] == "New" and len(plain.results) == CHAIN_STEPS and \
        all(r == "Reused" for _, _, r in plain.results)
    for c, what in store_chains:
        ok, why = lifetime_verdict(c)
        R.row("store lifetime %ds" % LIFETIME, "1.3", "chain " + c.name, "", c.shown(), "ok" if ok else "FAIL")
        R.check("store lifetime: a chain %s ends at MAX_LIFETIME" % what, ok, "%s; got %s" % (why, c.shown()))
    R.row("store lifetime %ds" % LIFETIME, "1.3", "chain in one process", plain.shown(), "",
          "ok" if plain_ok else "FAIL")
    R.check("store lifetime: plain OpenSSL in one process keeps resuming past %d s" % LIFETIME, plain_ok,
            "got %s" % plain.shown())


def ttl_clamp():
    """SESSCB_STORE_MAX_TTL=2: an entry offered to B at +0.5 s resumes; one
    offered at +3.5 s does not, while with the default TTL it does."""
    d, dc = cfg.FX.rundir("store-ttl"), cfg.FX.rundir("store-ttl-default")
    servers = [start(d, n, store_on(d, max_ttl=2), []) for n in ("a", "b")]
    servers += [start(dc, n, store_on(dc), []) for n in ("a", "b")]
    procs = [s[0] for s in servers]
    try:
        if not R.check("store ttl: servers started", all(s[2] for s in servers)):
            return
        (_, ta, _), (_, tb, _), (_, ca, _), (_, cb, _) = servers
        base = align_second()
        made = [connect(ta, "1.3", sess_out=os.path.join(d, "early.pem")),
                connect(ta, "1.3", sess_out=os.path.join(d, "late.pem")),
                connect(ca, "1.3", sess_out=os.path.join(dc, "late.pem"))]
        time.sleep(max(0.0, base + 0.5 - time.time()))
        early = connect(tb, "1.3", sess_in=os.path.join(d, "early.pem"))
        time.sleep(max(0.0, base + 3.5 - time.time()))
        late, default = connect(tb, "1.3", sess_in=os.path.join(d, "late.pem")), \
            connect(cb, "1.3", sess_in=os.path.join(dc, "late.pem"))
    finally:
        stop_all(procs)
    R.row("store max_ttl 2s", "1.3", "A->B +0.5s/+3.5s", "default +3.5s: %s" % default,
          "%s/%s" % (early, late), "ok" if (early, late, default) == ("Reused", "New", "Reused") else "FAIL")
    R.check("store ttl: sessions made", made == ["New"] * 3, "got %s" % made)
    R.check("store ttl: MAX_TTL=2 entry resumes on B at +0.5 s", early == "Reused", "got %s" % early)
    R.check("store ttl: MAX_TTL=2 entry is not resumed on B at +3.5 s", late == "New", "got %s" % late)
    R.check("store ttl: with the default TTL it is, at +3.5 s", default == "Reused", "got %s" % default)


# ------------------------------------------------------------ versions

# (maker, taker, whether the taker resumes): DER crosses a minor version,
# never a major one.
VERSION_PAIRS = (("1.1.1w", "sys", False), ("sys", "1.1.1w", False),
                 ("sys", "3.5", True), ("3.5", "sys", True),
                 ("4.0", "sys", False), ("sys", "4.0", False))


def build_available(build):
    binary, _ = openssl_build(build)
    return build == "sys" or os.access(binary, os.X_OK)


def test_versions():
    """Every server of VERSION_PAIRS on one store and domain (provide, TLS
    1.2): a session made on the maker is offered to the taker."""
    d = cfg.FX.rundir("store-versions")
    wanted = {b for pair in VERSION_PAIRS for b in pair[:2]}
    builds = sorted(b for b in wanted if build_available(b))
    R.check("store versions: the 1.1.1w build is there", "1.1.1w" in builds, "run `make openssl111`")
    if len(builds) < len(wanted):
        R.note("store versions: no build of %s here: its pairs are left out" % " ".join(sorted(wanted - set(builds))))
    fold = {"SESSCB_METRICS_INTERVAL_MS": str(FOLD_MS)}
    servers = {b: start(d, "s-" + b, dict(store_on(d), **fold), [], build=b) for b in builds}
    procs = [s[0] for s in servers.values()]
    try:
        started = [b for b, s in servers.items() if s[2]]
        R.check("store versions: servers started (%s)" % " ".join(builds), len(started) == len(builds),
                "started: %s" % started)
        results = [version_pair(d, servers, pair) for pair in VERSION_PAIRS
                   if pair[0] in started and pair[1] in started]
        still = {b: connect(servers[b][1], "1.2") for b in started}
        refused = sum(1 for _, _, want, _ in results if not want)
        wait_folded(d, "lookups.incompatible", refused)
    finally:
        rcs = stop_all(procs)
    R.check("store versions: every server still serves full handshakes afterwards",
            all(v == "New" for v in still.values()), "%s" % still)
    R.check("store versions: no crash", not crashed(procs) and None not in rcs, "exit %s" % rcs)
    versions_counted(d, procs, refused, len(results) - refused)


def wait_folded(d, key, want):
    """Until the servers' background folds bring the store's total `key` to
    `want` (a few FOLD_MS), where the build keeps such totals."""
    if any(k.startswith("lookups.") for k in stats_counters(d)):
        wait_until(lambda: stats_counters(d).get(key, 0) >= want, 5, 2 * FOLD_MS / 1000)


def versions_counted(d, procs, refused, accepted):
    """The takers' lookups, per their traces (store_op events) and per
    `sesscb stats --json`: one `incompatible` per refused offer, one
    `local_hit` per accepted one."""
    ops = store_ops(procs)
    if not ops:
        R.note("store versions: no store_op events in the traces (not in this build): the refusals "
               "are shown by the resumption results only (%d refused as expected)" % refused)
    else:
        got = (ops[("get", "incompatible")], ops[("get", "local_hit")])
        R.check("store versions: traced lookups: incompatible per refusal, local_hit per resumption",
                got == (refused, accepted), "incompatible/local_hit %d/%d, want %d/%d" % (got + (refused, accepted)))
    flat = stats_counters(d)
    if "lookups.incompatible" not in flat:
        R.note("store versions: `sesscb stats --json` has no lookups.incompatible counter (not in this build)")
    else:
        R.check("store versions: `sesscb stats` counts the refusals as incompatible",
                flat["lookups.incompatible"] == refused,
                "lookups.incompatible %d, refused %d" % (flat["lookups.incompatible"], refused))


def store_ops(procs):
    """(op, outcome) -> count, over the traces of `procs`."""
    ops = collections.Counter()
    for p in procs:
        path = trace_of(p)
        for e in read_trace(path).events if path else ():
            if e.get("event") == "store_op":
                ops[(e.get("op"), e.get("outcome"))] += 1
    return ops


def version_pair(d, servers, pair):
    """Made on one build, offered to another: (maker, taker, want, got)."""
    maker, taker, want = pair
    f = os.path.join(d, "sess-%s-to-%s.pem" % (maker, taker))
    before = entries_in(d)
    made = connect(servers[maker][1], "1.2", sess_out=f)
    stored = entries_in(d) - before
    got = connect(servers[taker][1], "1.2", sess_in=f) if made == "New" else None
    label = "store versions: %s -> %s" % (maker, taker)
    R.row("store versions", "1.2", "%s->%s" % (maker, taker), "", "%s (stored %d)" % (got, stored),
          "ok" if made == "New" and stored == 1 and (got == "Reused") == want else "FAIL")
    R.check(label + ": the maker stored its session", made == "New" and stored == 1,
            "first handshake %s, new entries %d" % (made, stored))
    R.check(label + (": resumed (same major)" if want else ": refused, a full handshake"),
            got == ("Reused" if want else "New"), "got %s" % got)
    return maker, taker, want, got


def entries_in(d):
    return stats_counters(d).get("entries", 0)


# ------------------------------------------------------------ sid_ctx


def test_sid_ctx():
    """A (-context one), B (-context two), C (-context one) share a store.
    Augment (-ext_cache), so the trace shows the store's answer; and
    provide, whose outcome must be the same."""
    for mode, flags in (("augment", ["-ext_cache"]), ("provide", [])):
        for tls in cfg.TLS_VERSIONS:
            sid_ctx_case(mode, tls, flags)


def sid_ctx_case(mode, tls, flags):
    d = cfg.FX.rundir("store-sidctx-%s-%s" % (mode, tls))
    servers = [start(d, n, store_on(d), ["-context", ctx] + flags) for n, ctx in
               (("a", "one"), ("b", "two"), ("c", "one"))]
    procs = [s[0] for s in servers]
    f = os.path.join(d, "sess.pem")
    try:
        if not R.check("store sid_ctx %s TLS %s: servers started" % (mode, tls), all(s[2] for s in servers)):
            return
        made = connect(servers[0][1], tls, sess_out=f)
        other = connect(servers[1][1], tls, sess_in=f)
        same = connect(servers[2][1], tls, sess_in=f)
        again = connect(servers[1][1], tls)
    finally:
        rcs = stop_all(procs)
    label = "store sid_ctx %s TLS %s" % (mode, tls)
    R.row("store sid_ctx " + mode, tls, "A->B other/same ctx", "", "%s/%s" % (other, same),
          "ok" if (made, other, same) == ("New", "New", "Reused") else "FAIL")
    R.check(label + ": another context is refused (full handshake)", made == "New" and other == "New",
            "made %s, offered to B %s" % (made, other))
    R.check(label + ": the same context resumes", same == "Reused", "got %s" % same)
    R.check(label + ": B serves on, no crash", again == "New" and not crashed(procs) and None not in rcs,
            "next handshake %s, exit %s" % (again, rcs))
    sid_ctx_store_hit(label, mode, procs[1], f)


def sid_ctx_store_hit(label, mode, proc_b, f):
    """The store, not a key trick, answered B: its trace shows the lookup's
    local_hit (store_op, where the build traces them) and, in augment mode,
    a get callback that returned a session for the id s_server's own cache
    never held."""
    ops = store_ops([proc_b])
    if ops:
        R.check(label + ": B's store lookup hit (store_op local_hit)", ops[("get", "local_hit")] == 1,
                "store_op get outcomes on B: %s" % dict((o, n) for (op, o), n in ops.items() if op == "get"))
    elif mode == "provide":
        R.note(label + ": no store_op events in this build: B's store hit is shown in augment mode only")
    if mode == "augment":
        sid = server_session_id(f)
        hits = store_hits(proc_b, sid)
        R.check(label + ": B's get callback returned the session OpenSSL refused", sid is not None and hits == 1,
                "get hits for sid %s in B's trace: %d" % ((sid or "?")[:16], hits))


def store_hits(proc, sid):
    """Get events that returned a session for `sid` in the trace of `proc`
    (augment: s_server's own cache never held it, so the store answered)."""
    path = trace_of(proc)
    if not path or not sid:
        return 0
    return sum(1 for e in read_trace(path).events
               if e.get("event") == "get" and e.get("sid") == sid and e.get("hit"))


def trace_of(proc):
    """The SESSCB_LOG of a Proc started by start()."""
    path = getattr(proc, "trace", None)
    return path if path and os.path.exists(path) else None


# ------------------------------------------------------------ sanitizers


def test_sanitizers():
    if R.check("store valgrind: valgrind installed", tool("valgrind") is not None):
        sessions_made_elsewhere("valgrind", s_server_maker, valgrind_server)
    if R.check("store asan: %s built" % os.path.relpath(ASAN_SERVER, cfg.ROOT), os.access(ASAN_SERVER, os.X_OK),
               "run `make store-proofs` (`make interop` builds it)"):
        sessions_made_elsewhere("asan", asan_server, asan_server)


def s_server_maker(d, name):
    """A plain s_server (sesscb preloaded, store on) as the maker: no verdict
    of its own."""
    p, port, ok = start(d, name, store_on(d), [])
    return p, port, ok, None


def sessions_made_elsewhere(name, make_maker, make_taker):
    """The maker stores a TLS 1.2 and a TLS 1.3 session; the instrumented
    taker resumes both from the store (a get hit each, and a store write of
    TLS 1.3's renewed session); each instrumented server serves its two
    connections and must exit clean."""
    d = cfg.FX.rundir("store-" + name)
    servers = [make_maker(d, "maker"), make_taker(d, "taker")]
    (maker, port_a, ok_a, _), (taker, port_b, ok_b, _) = servers
    try:
        if not R.check("store %s: servers started" % name, ok_a and ok_b):
            return
        files = [os.path.join(d, "sess-%s.pem" % tls) for tls in cfg.TLS_VERSIONS]
        made = [connect(port_a, tls, sess_out=f) for tls, f in zip(cfg.TLS_VERSIONS, files)]
        resumed = [connect(port_b, tls, sess_in=f) for tls, f in zip(cfg.TLS_VERSIONS, files)]
        rcs = [p.wait(120) if verdict else None for p, _, _, verdict in servers]
    finally:
        stop_all([maker, taker])
    R.row("store " + name, "1.2+1.3", "maker->instrumented", "", "/".join(map(str, resumed)),
          "ok" if resumed == ["Reused"] * 2 else "FAIL")
    R.check("store %s: sessions made and stored by the maker" % name, made == ["New"] * 2, "got %s" % made)
    R.check("store %s: the instrumented server resumed both from the store" % name,
            resumed == ["Reused"] * 2, "got %s" % resumed)
    for (p, _, _, verdict), rc in zip(servers, rcs):
        if verdict:
            clean, detail = verdict(rc, read_text(p.err_path))
            R.check("store %s: the %s exits clean, no report" % (name, p.name), clean, detail)


def valgrind_server(d, name):
    """`openssl s_server -naccept 2` under valgrind, sesscb preloaded, store
    on; leaks as in the differential suite's valgrind runs (definite and
    indirect are errors; sesscb's store, kept for the process's life, is
    reachable and not shown)."""
    wrapper = [tool("valgrind"), "-q", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect"]
    p, port, ok = start(d, name, store_on(d), ["-naccept", "2"], wrapper=wrapper, timeout=60)

    def verdict(rc, err):
        lines = VALGRIND_LINE_RE.findall(err)
        return rc == 0 and not lines, "exit %s, %d valgrind lines (see %s)" % (rc, len(lines), p.err_path)
    return p, port, ok, verdict


def asan_server(d, name, extra_args=(), env_extra=None):
    """tests-c/store/store_server.c with ASan+UBSan, linked with -lsesscb
    before -lssl, serving 2 connections then freeing everything."""
    env = dict(store_on(d), **(env_extra or {}))
    del env["LD_PRELOAD"]  # linked, not preloaded (and ASan's runtime must come first)
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    port = free_port()
    argv = [ASAN_SERVER, os.path.join(d, "pki/a.test.crt"), os.path.join(d, "pki/a.test.key"), str(port), "2"] + list(extra_args)
    out = os.path.join(d, name + ".out")
    p = Proc(name, argv, env, out, os.path.join(d, name + ".err"))
    ok = wait_until(lambda: "LISTEN" in read_text(out) or not p.alive(), 10) and p.alive()

    def verdict(rc, err):
        served = re.findall(r"^conn \d (New|Reused) ", read_text(out), re.M)
        report = ASAN_REPORT_RE.search(err)
        return rc == 0 and not report and len(served) == 2, \
            "exit %s, served %s, report: %s" % (rc, served, report.group(0) if report else "none")
    return p, port, ok, verdict


# ------------------------------------------------------------ removes


def maker_then_taker(d, args, env_extra=None, between=lambda: None):
    """The linked C server as maker (`args`: "remove" removes each session
    after its handshake) makes a TLS 1.2 and a 1.3 session and exits;
    `between()`; the same server as taker (its session id context must
    match) is offered both. (made, resumed, maker exited clean, detail)."""
    maker, port_a, ok_a, verdict = asan_server(d, "maker", args, env_extra)
    files = [os.path.join(d, "sess-%s.pem" % tls) for tls in cfg.TLS_VERSIONS]
    try:
        made = [connect(port_a, tls, sess_out=f) for tls, f in zip(cfg.TLS_VERSIONS, files)] if ok_a else []
        rc = maker.wait(60)
    finally:
        stop_all([maker])
    between()
    taker, port_b, ok_b, _ = asan_server(d, "taker", (), env_extra)
    try:
        resumed = [connect(port_b, tls, sess_in=f) for tls, f in zip(cfg.TLS_VERSIONS, files)] if ok_b else []
        taker.wait(60)
    finally:
        stop_all([taker])
    clean, detail = verdict(rc, read_text(maker.err_path))
    return made, resumed, clean, detail


def test_removes():
    """An application's SSL_CTX_remove_session deletes the shared entry: the
    linked C server removes each session after its handshake, and another
    process then cannot resume it; the same server without removing (the
    control) leaves them resumable. Its own exit (SSL_CTX_free, a flush of
    every session) deletes nothing: B resumes after A has exited."""
    if not R.check("store removes: %s built" % os.path.relpath(ASAN_SERVER, cfg.ROOT),
                   os.access(ASAN_SERVER, os.X_OK), "run `make store-proofs`"):
        return
    for label, args, want in (("kept", (), ["Reused"] * 2), ("removed", ("remove",), ["New"] * 2)):
        made, resumed, clean, detail = maker_then_taker(cfg.FX.rundir("store-removes-" + label), args)
        R.row("store removes (%s)" % label, "1.2+1.3", "A exits, then B", "", "/".join(map(str, resumed)),
              "ok" if resumed == want else "FAIL")
        R.check("store removes (%s): A made both and exited clean" % label, made == ["New"] * 2 and clean,
                "made %s; %s" % (made, detail))
        R.check("store removes (%s): B after A's exit: %s" % (label, want), resumed == want, "got %s" % resumed)
