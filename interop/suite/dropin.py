"""The environment contrib/systemd/sesscb.conf gives a service."""

import re

from . import config as cfg
from .files import read_text
from .procs import base_env


def dropin_assignments():
    """Environment= assignments of the drop-in's [Service] section."""
    assigned = {}
    in_service = False
    for raw in read_text(cfg.DROPIN).splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            in_service = line == "[Service]"
            continue
        if in_service and line.startswith("Environment="):
            value = line[len("Environment="):]
            for word in re.findall(r'"([^"]*)"|(\S+)', value):
                item = word[0] or word[1]
                if "=" in item:
                    k, v = item.split("=", 1)
                    assigned[k] = v
    return assigned


def dropin_env(logfile):
    """The environment systemd would give a service with
    contrib/systemd/sesscb.conf: its Environment= assignments, with the
    installed library path mapped to the build's and the log path to
    `logfile` (specifiers such as %N are not expanded here)."""
    env = base_env()
    assigned = dropin_assignments()
    if "LD_PRELOAD" in assigned:
        env["LD_PRELOAD"] = cfg.LIB if assigned["LD_PRELOAD"].endswith(("libsesscb.so.0", "libsesscb.so")) else \
            assigned["LD_PRELOAD"]
    if "SESSCB_LOG" in assigned:
        env["SESSCB_LOG"] = logfile
    return env
