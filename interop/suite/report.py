"""Counting checks and printing the result tables."""

from . import config as cfg


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.rows = []  # (server, tls, scenario, plain, sesscb, verdict)
        self.notes = []
        self.traces = []  # sesscb trace counts per sesscb run

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            if cfg.VERBOSE:
                print("  ok    %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        else:
            self.failed.append((name, detail))
            print("  FAIL  %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return ok

    def row(self, server, tls, scenario, plain, sesscb, verdict):
        self.rows.append((server, tls, scenario, plain, sesscb, verdict))

    def note(self, text):
        self.notes.append(text)
        print("  note  " + text, flush=True)


R = Report()


def log(msg):
    print(msg, flush=True)


def fmt_flags(flags):
    if flags is None:
        return "error"
    return "%d/%d" % (sum(1 for f in flags if f), len(flags))


def print_table(title, hdr, rows):
    log("")
    log(title)
    rows = [hdr] + list(rows)
    w = [max(len(str(r[i])) for r in rows) for i in range(len(hdr))]
    for i, row in enumerate(rows):
        log("  " + "  ".join(str(c).ljust(w[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            log("  " + "  ".join("-" * w[j] for j in range(len(hdr))))


def print_matrix():
    if R.traces:
        print_table("sesscb traces of the sesscb runs (server process tree):",
                    ("server", "TLS", "pids", "tids", "new", "get hit/all", "remove", "cli new", "cli remove",
                     "ctx_free", "clients: resumed/hs"), R.traces)
    print_table("Resumed handshakes (resumed/total), plain vs sesscb:",
                ("server", "TLS", "scenario", "plain", "sesscb", ""), R.rows)


def print_failures():
    if R.failed:
        log("")
        log("Failures:")
        for name, detail in R.failed:
            log("  - %s%s" % (name, (": " + detail) if detail else ""))
