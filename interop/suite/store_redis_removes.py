"""Removals reach Redis: an application's SSL_CTX_remove_session deletes
the fleet's entry, even for a session removed just before the process
exits (its exit handler lets the Redis thread send what is queued).

The maker is the linked C server of store-removes (tests-c/store, ASan +
UBSan): it serves a TLS 1.2 and a TLS 1.3 (stateful) connection, removes
each session right after its handshake when told to, and exits. Then
Redis is counted and another process (the taker) is offered both
sessions. The control keeps them: both stay in Redis and resume."""

import os

from . import config as cfg
from .report import R
from .store import DOMAIN
from .store_proofs import ASAN_SERVER, maker_then_taker
from .store_redis_hosts import keyring


def run_pair(redis, label, args):
    """Maker then taker through `redis`; (made, keys after the maker, resumed, maker clean, detail)."""
    d = cfg.FX.rundir("redis-removes-" + label)
    # A patient deadline: the taker's first event is a lookup, and under
    # ASan its first connection's set-up can take longer than 2 ms.
    env = {"SESSCB_STORE": redis.url(), "SESSCB_STORE_KEYRING": keyring(d), "SESSCB_STORE_DOMAIN": DOMAIN,
           "SESSCB_STORE_TIMEOUT_MS": "100"}
    redis.call("FLUSHALL")
    keys = []
    made, resumed, clean, detail = maker_then_taker(d, args, env, lambda: keys.append(len(redis.keys())))
    return made, keys[0], resumed, clean, detail


def removes_reach_redis(redis):
    """TLS 1.3 leaves one more key per connection than the client keeps
    (two stateful tickets, the client offers the last): so the removed run
    must leave exactly two keys fewer than the control."""
    if not R.check("store redis removes: %s built" % os.path.relpath(ASAN_SERVER, cfg.ROOT),
                   os.access(ASAN_SERVER, os.X_OK), "run `make store-proofs`"):
        return
    runs = {label: run_pair(redis, label, args) for label, args in (("kept", ()), ("removed", ("remove",)))}
    kept_keys = runs["kept"][1]
    for label, want in (("kept", ["Reused"] * 2), ("removed", ["New"] * 2)):
        made, keys, resumed, clean, detail = runs[label]
        want_keys = kept_keys if label == "kept" else kept_keys - 2
        ok = resumed == want and keys == want_keys and kept_keys >= 2
        R.row("store redis removes (%s)" % label, "1.2+1.3", "A exits, then B", "", "/".join(resumed),
              "ok" if ok else "FAIL")
        R.check("store redis removes (%s): A made both and exited clean" % label,
                made == ["New"] * 2 and clean, "made %s; %s" % (made, detail))
        R.check("store redis removes (%s): %d keys in Redis after A's exit (control %d), B: %s" % (
            label, keys, kept_keys, "/".join(want)), ok, "got %s" % resumed)
