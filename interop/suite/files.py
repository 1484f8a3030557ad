"""Reading server logs and filling configuration templates."""

import os
import re

from . import config as cfg


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def fill(template, path, **subst):
    text = read_text(os.path.join(cfg.HERE, "conf", template))
    for k, v in subst.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z]+@", text)
    if left:
        raise RuntimeError("unfilled placeholders in %s: %s" % (template, left))
    with open(path, "w") as f:
        f.write(text)
    return path
