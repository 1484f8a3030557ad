"""LD_DEBUG=bindings: the six bind to libsesscb under both OpenSSL symbol
versions; and the systemd drop-in carries what the servers need."""

import os

from . import config as cfg
from .dropin import dropin_env
from .files import fill
from .procs import free_port, run, sesscb_env, tool
from .report import R


def test_bindings():
    """LD_DEBUG=bindings: the server's SSL_CTX_sess_set_new_cb reference binds
    to libsesscb, for OpenSSL 3 ([OPENSSL_3.0.0]) and 1.1.1w ([OPENSSL_1_1_0])."""
    d = cfg.FX.rundir("bindings")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    conf = fill("nginx.conf.in", os.path.join(d, "nginx.conf"), DIR=d, PORT=free_port(), BPORT=free_port(),
                PROTO="TLSv1.2", USER="")
    env = sesscb_env(os.devnull)
    env["LD_DEBUG"] = "bindings"
    rc, out, err = run([tool("nginx"), "-t", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")], env=env)
    lines = [l for l in err.splitlines() if "SSL_CTX_sess_set_new_cb" in l]
    R.check("bindings: nginx -t binds SSL_CTX_sess_set_new_cb to libsesscb [OPENSSL_3.0.0]",
            rc == 0 and any("libsesscb" in l and "OPENSSL_3.0.0" in l for l in lines),
            " | ".join(lines[:2]) or err[-200:])
    if os.access(cfg.OPENSSL111, os.X_OK):
        env["LD_BIND_NOW"] = "1"
        rc, out, err = run([cfg.OPENSSL111, "version"], env=env)
        lines = [l for l in err.splitlines() if "SSL_CTX_sess_set_new_cb" in l]
        R.check("bindings: 1.1.1w openssl binds SSL_CTX_sess_set_new_cb to libsesscb [OPENSSL_1_1_0]",
                rc == 0 and any("libsesscb" in l and "OPENSSL_1_1_0" in l for l in lines), " | ".join(lines[:2]))
    # The drop-in is well-formed and carries what the servers need.
    env = dropin_env(os.path.join(d, "x.jsonl"))
    R.check("recipes: contrib/systemd/sesscb.conf sets LD_PRELOAD and SESSCB_LOG",
            env.get("LD_PRELOAD") == cfg.LIB and env.get("SESSCB_LOG"),
            str({k: env.get(k) for k in ("LD_PRELOAD", "SESSCB_LOG")}))
