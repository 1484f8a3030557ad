"""The shared session store across processes of one host (SESSCB_STORE=local).

Two `openssl s_server` processes stand for two instances, and a Python
`ssl` server's two forked workers for two workers (their SSLContext is made
before the fork, so the store starts in each worker after it): a client
makes a session on A, then offers it to B. Without the store (sesscb
preloaded, SESSCB_STORE unset) B resumes none of them; with it, every one.
Both modes: provide (no -ext_cache: the server set no callbacks) and augment
(-ext_cache: its own in-process cache misses, the store answers). TLS 1.2
session ids and TLS 1.3 stateful tickets (-no_ticket) are shared; with TLS
1.3's default stateless tickets nothing is stored and nothing changes. A bad
setting leaves the store off with one line on stderr, and the server
serves."""

import json
import os
import re
import signal
import subprocess

from . import config as cfg
from .files import read_text
from .procs import Proc, base_env, free_port, wait_until
from .report import R

SESSIONS = 4
SESSCB = os.path.join(cfg.ROOT, "target", "release", "sesscb")
DOMAIN = "interop"


def store_env(d, extra=None):
    """sesscb preloaded; the store on unless `extra` says otherwise."""
    env = base_env()
    env["LD_PRELOAD"] = cfg.LIB
    env["SESSCB_LOG"] = os.path.join(d, "sesscb-%d.jsonl" % len(os.listdir(d)))
    env.update(extra or {})
    return env


def on(d):
    store = os.path.join(d, "store")
    os.makedirs(store, mode=0o700, exist_ok=True)
    return {"SESSCB_STORE": "local", "SESSCB_STORE_DIR": store, "SESSCB_STORE_DOMAIN": DOMAIN}


def start(d, name, env, flags):
    port = free_port()
    argv = ["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-www",
            "-cert", os.path.join(d, "pki/a.test.crt"), "-key", os.path.join(d, "pki/a.test.key")] + flags
    out = os.path.join(d, name + ".out")
    p = Proc(name, argv, env, out, os.path.join(d, name + ".err"))
    ok = wait_until(lambda: "ACCEPT" in read_text(out) or not p.alive(), 10) and p.alive()
    return p, port, ok


def connect(port, tls, sess_out=None, sess_in=None):
    """One s_client connection that reads the reply (so TLS 1.3 tickets
    arrive); returns 'New', 'Reused' or None (failed)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "a.test",
            "-tls1_2" if tls == "1.2" else "-tls1_3", "-ign_eof"]
    argv += ["-sess_out", sess_out] if sess_out else []
    argv += ["-sess_in", sess_in] if sess_in else []
    try:
        out = subprocess.run(argv, input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=15,
                             env=base_env()).stdout.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return None
    m = re.search(r"^(New|Reused), TLS", out, re.M)
    return m.group(1) if m else None


def cross_resumed(d, tls, env_a, env_b, flags):
    """Sessions made on A and resumed on B, out of SESSCB_STORE sessions;
    None if a server did not start or a first handshake failed."""
    a, port_a, ok_a = start(d, "a", env_a, flags)
    b, port_b, ok_b = start(d, "b", env_b, flags)
    try:
        if not (ok_a and ok_b):
            return None
        return resumed_a_to_b(d, tls, port_a, port_b)
    finally:
        for p in (a, b):
            p.stop(signal.SIGTERM, 5)


def resumed_a_to_b(d, tls, port_a, port_b):
    """Sessions made on A and resumed on B; None if a first handshake failed."""
    resumed = 0
    for i in range(SESSIONS):
        f = os.path.join(d, "sess-%s-%d.pem" % (tls, i))
        if connect(port_a, tls, sess_out=f) != "New":
            return None
        resumed += connect(port_b, tls, sess_in=f) == "Reused"
    return resumed


def py_workers(close):
    """The same with a Python `ssl` server whose two forked workers share
    one SSLContext made before the fork (each on its own port); `close` is
    "clean" (close_notify first) or "unclean"."""
    return lambda d, tls, env: py_workers_resumed(d, tls, env, close)


def py_workers_resumed(d, tls, env, close):
    port_a, port_b = free_port(), free_port()
    argv = [cfg.PYTHON, os.path.join(cfg.HERE, "pyworkers.py"), os.path.join(d, "pki/a.test.crt"),
            os.path.join(d, "pki/a.test.key"), str(port_a), str(port_b), str(SESSIONS), close]
    out = os.path.join(d, "pyworkers.out")
    p = Proc("pyworkers", argv, env, out, os.path.join(d, "pyworkers.err"))
    try:
        if not (wait_until(lambda: read_text(out).count("LISTEN") == 2 or not p.alive(), 10) and p.alive()):
            return None
        return resumed_a_to_b(d, tls, port_a, port_b)
    finally:
        if p.wait(15) is None:
            p.stop(signal.SIGTERM, 5)


def entries(d):
    """Entries in the case's embedded tier, per `sesscb stats --json`."""
    r = subprocess.run([SESSCB, "stats", "--dir", os.path.join(d, "store"), "--domain", DOMAIN, "--json"],
                       capture_output=True, timeout=15)
    m = re.search(rb'"entries":(\d+)', r.stdout)
    return int(m.group(1)) if m else 0


def s_servers(flags):
    """Two `s_server` processes with `flags`, as a case's servers."""
    return lambda d, tls, env: cross_resumed(d, tls, env, env, flags)


def case(name, tls, servers, want_store, extra=None, want_entries=None):
    """Plain vs store for one configuration; checks B's resumptions, and
    with `want_entries` the entries left in the store."""
    plain_dir, store_dir = cfg.FX.rundir("store-%s-%s-plain" % (name, tls)), cfg.FX.rundir("store-%s-%s" % (name, tls))
    plain = servers(plain_dir, tls, store_env(plain_dir, extra))
    stored = servers(store_dir, tls, store_env(store_dir, dict(on(store_dir), **(extra or {}))))
    label = "store %s TLS %s: a session made on A resumes on B" % (name, tls)
    R.row("store " + name, tls, "A->B", "%s/%d" % (plain, SESSIONS), "%s/%d" % (stored, SESSIONS),
          "ok" if plain == 0 and stored == (SESSIONS if want_store else 0) else "FAIL")
    R.check(label + " without the store: 0", plain == 0, "plain resumed %s/%d" % (plain, SESSIONS))
    want = SESSIONS if want_store else 0
    R.check(label + " with the store: %d" % want, stored == want, "store resumed %s/%d" % (stored, SESSIONS))
    if want_entries is not None:
        left = entries(store_dir)
        R.check("store %s TLS %s: %d entries left" % (name, tls, want_entries), left == want_entries,
                "%d entries" % left)


def stats_json(d):
    """`sesscb stats --json` of the case's embedded tier, parsed ({} if none)."""
    r = subprocess.run([SESSCB, "stats", "--dir", os.path.join(d, "store"), "--domain", DOMAIN, "--json"],
                       capture_output=True, timeout=15)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


def metrics_totals(d):
    """(files, {(family, outcome): value summed over the per-process
    SESSCB_METRICS_FILE files}); a sample without its # TYPE line, or a line
    that does not parse, raises ValueError."""
    sums, files = {}, sorted(f for f in os.listdir(d) if f.startswith("metrics-") and f.endswith(".prom"))
    for name in files:
        typed = set()
        for line in read_text(os.path.join(d, name)).splitlines():
            if line.startswith("# TYPE "):
                typed.add(line.split()[2])
                continue
            if line.startswith("#"):
                continue
            m = re.fullmatch(r'(sesscb_store_\w+)\{pid="(\d+)"(?:,(?:outcome|le)="([\w.+]+)")?\} ([\d.]+)', line)
            # A histogram's samples (_bucket, _sum, _count) are typed by its name.
            histogram = m and re.sub(r"_(bucket|sum|count)$", "", m.group(1))
            if not m or typed.isdisjoint((m.group(1), histogram)) or name != "metrics-%s.prom" % m.group(2):
                raise ValueError("%s: %r" % (name, line))
            key, value = (m.group(1), m.group(3)), float(m.group(4)) if "." in m.group(4) else int(m.group(4))
            if m.group(1).endswith("_total") or (histogram != m.group(1) and histogram in typed):
                sums[key] = sums.get(key, 0) + value
            else:  # a host-wide gauge: every process reports the same figure
                sums.setdefault(key, set()).add(value)
    return files, sums


def counted(tls):
    """After a store run, `sesscb stats --json` and the metrics files show
    what happened: every session stored on A, every one a local hit on B."""
    d = cfg.FX.rundir("store-counters-%s" % tls)
    env = store_env(d, dict(on(d), SESSCB_METRICS_FILE=os.path.join(d, "metrics-%p.prom"),
                            SESSCB_METRICS_INTERVAL_MS="200"))
    a, port_a, ok_a = start(d, "a", env, ["-no_ticket"])
    b, port_b, ok_b = start(d, "b", env, ["-no_ticket"])
    try:
        resumed = resumed_a_to_b(d, tls, port_a, port_b) if ok_a and ok_b else None
        # Both processes fold and write every 200 ms: wait until the figures
        # stop lagging the handshakes (bounded; a miss shows in the checks).
        wait_until(lambda: agree(d, stats_json(d)), 10)
    finally:
        for p in (a, b):
            p.stop(signal.SIGTERM, 5)
    st = stats_json(d)
    stored, local = st.get("stores", {}).get("ok", 0), st.get("lookups", {}).get("local_hit", 0)
    label = "store counters TLS %s" % tls
    R.check(label + ": sesscb stats shows stores ok >= %d, local_hit == %d" % (SESSIONS, SESSIONS),
            resumed == SESSIONS and stored >= SESSIONS and local == SESSIONS,
            "resumed %s, stats %r" % (resumed, st))
    try:
        files, m = metrics_totals(d)
    except ValueError as e:
        files, m = [], {"unparsable": str(e)}
    R.check(label + ": one metrics file per process, with the same figures", len(files) == 2 and agree(d, st),
            "files %r, metrics %r" % (files, m))


def app_hit_counted():
    """Augment mode, resuming on the server that made the session: the
    application's own cache (-ext_cache) answers, and that is counted as an
    app_hit, not as a store lookup."""
    d = cfg.FX.rundir("store-counters-app-hit")
    a, port, ok = start(d, "a", store_env(d, dict(on(d), SESSCB_METRICS_INTERVAL_MS="200")), ["-no_ticket", "-ext_cache"])
    try:
        f = os.path.join(d, "sess.pem")
        made = ok and connect(port, "1.2", sess_out=f) == "New"
        resumed = made and connect(port, "1.2", sess_in=f) == "Reused"
        lookups = lambda: stats_json(d).get("lookups", {})
        wait_until(lambda: lookups().get("app_hit", 0) >= 1, 10)
    finally:
        a.stop(signal.SIGTERM, 5)
    st = lookups()
    R.check("store counters: the application's own hit is an app_hit",
            resumed and st.get("app_hit") == 1 and st.get("local_hit") == 0 and st.get("miss") == 0,
            "resumed %s, lookups %r" % (resumed, st))


def agree(d, st):
    """Whether the metrics files show what `sesscb stats` (`st`) shows."""
    try:
        _, m = metrics_totals(d)
    except ValueError:
        return False
    return (st.get("lookups", {}).get("local_hit", 0) >= SESSIONS and
            m.get(("sesscb_store_stores_total", "ok")) == st["stores"]["ok"] and
            m.get(("sesscb_store_lookups_total", "local_hit")) == st["lookups"]["local_hit"] and
            m.get(("sesscb_store_entries", None)) == {st["entries"]})


BAD_SETTINGS = (
    ("unknown mode", {"SESSCB_STORE_MODE": "sometimes"}, "SESSCB_STORE_MODE"),
    ("size 0", {"SESSCB_STORE_SIZE": "0"}, "SESSCB_STORE_SIZE"),
    ("unknown scheme", {"SESSCB_STORE": "memcached://127.0.0.1"}, "SESSCB_STORE"),
    ("garbage keyring", {"SESSCB_STORE_KEYRING": "@garbage"}, "keyring"),
    ("unreadable keyring", {"SESSCB_STORE_KEYRING": "/nonexistent/keyring"}, "cannot read keyring"),
    ("directory not a directory", {"SESSCB_STORE_DIR": "@file"}, "not a directory"),
    # Not writable by the server's uid: as root (no permission check stops
    # root) a directory of another uid, which sesscb refuses to use.
    ("directory not writable", {"SESSCB_STORE_DIR": "@unwritable"},
     "owned by uid 65534" if cfg.IS_ROOT else "Permission denied"),
)


def bad_setting(name, extra, expect):
    """The store stays off with one line naming the problem; the server
    serves and nothing crashes."""
    d = cfg.FX.rundir("store-bad-" + name.replace(" ", "-"))
    env = on(d)
    for k, v in extra.items():
        if v == "@garbage":
            v = os.path.join(d, "garbage.keyring")
            with open(v, "w") as f:
                f.write("not a keyring\n")
            os.chmod(v, 0o600)
        elif v == "@file":
            v = os.path.join(d, "a-file")
            open(v, "w").close()
        elif v == "@unwritable":
            v = os.path.join(d, "not-ours")
            os.makedirs(v, mode=0o500, exist_ok=True)
            if cfg.IS_ROOT:
                os.chown(v, 65534, 65534)
        env[k] = v
    p, port, ok = start(d, "a", store_env(d, env), ["-no_ticket"])
    try:
        served = ok and connect(port, "1.2") == "New" and connect(port, "1.3") == "New"
    finally:
        rc = p.stop(signal.SIGTERM, 5)
    lines = [line for line in read_text(p.err_path).splitlines() if line.startswith("sesscb:")]
    R.check("store bad setting (%s): the server serves" % name, served and rc is not None and rc >= -15,
            "served %s, exit %s" % (served, rc))
    R.check("store bad setting (%s): one clear line" % name, len(lines) == 1 and expect in lines[0],
            "stderr sesscb lines: %r" % lines)


def test_store():
    if not os.access(SESSCB, os.X_OK):
        R.check("store: %s built" % SESSCB, False, "run `make lib`")
        return
    for tls in cfg.TLS_VERSIONS:
        case("provide", tls, s_servers(["-no_ticket"]), want_store=True)
        case("augment", tls, s_servers(["-no_ticket", "-ext_cache"]), want_store=True)
        case("python-workers", tls, py_workers("clean"), want_store=True)
    # A bad session (closed without close_notify) is removed by OpenSSL
    # (Debian's 3.0 calls SSL_CTX_remove_session through its PLT): sesscb
    # deletes it from the store too, so B cannot resume it, as A could not.
    case("python-unclean", "1.2", py_workers("unclean"), want_store=False, want_entries=0)
    case("default-tickets", "1.3", s_servers([]), want_store=False, want_entries=0)
    case("force-stateful", "1.3", s_servers([]), want_store=True,
         extra={"SESSCB_STORE_FORCE_STATEFUL_TLS13": "1"})
    for tls in cfg.TLS_VERSIONS:
        counted(tls)
    app_hit_counted()
    for name, extra, expect in BAD_SETTINGS:
        bad_setting(name, extra, expect)
