"""The EVP form of sesscb's ticket key callback (SESSCB_TICKET_FORM=evp).

By default (auto) sesscb installs the legacy callback and uses the EVP form
(SSL_CTX_set_tlsext_ticket_key_evp_cb, EVP_MAC_CTX) only where the ctx's
libssl refuses the legacy one (no-deprecated builds, none here). `evp`
installs the EVP form wherever the setter exists, which proves that path on
the normal builds:

- s_server pairs of Debian 3.0, 3.5, 3.6 and 4.0, TLS 1.3 and 1.2: plain 0/4,
  evp 4/4, and every ctx's trace line says "evp form"; 1.1.1w has no EVP
  setter: evp 4/4 on the legacy form (its trace says so).
- Across forms (Debian 3.0): a ticket made under the legacy form resumes
  under the EVP form and back, so both set the same AES and HMAC keys.
- Python `ssl` servers under evp: the counters of a cross run, forged and
  truncated tickets (full handshake, server alive), a rotation run with
  renewals and a refused expired ticket, keys the application set with
  SSL_CTX_set_tlsext_ticket_keys (they win, as under the legacy form).
- A bad SESSCB_TICKET_FORM: one line, auto (legacy form), tickets shared.
- On 3.5 built no-deprecated (or the build SESSCB_OPENSSL_NODEPRECATED names):
  auto gives every ctx the EVP form there (plain 0/4, auto 4/4), and
  `legacy` leaves OpenSSL's own keys (0/4).

The form a ctx got is read from sesscb's trace (SESSCB_LOG, set by
store_env), so a run that silently stayed on the legacy form fails."""

import glob
import os

from . import config as cfg
from . import tickets
from .files import read_text
from .report import R
from .store import SESSCB, SESSIONS, cross_resumed, store_env

LABEL = "tickets-evp"
EVP_LINE = "ticket key callback installed: evp form"
LEGACY_LINE = "ticket key callback installed: legacy form"


def evp_keys(d, owner=None, **extra):
    """The keyring settings of tickets.py, with the EVP form asked for."""
    return tickets.keys_on(d, owner, SESSCB_TICKET_FORM="evp", **extra)


def forms(d):
    """(evp, legacy): how many ctxs of the processes run in `d` got each form."""
    text = "".join(read_text(p) for p in glob.glob(os.path.join(d, "sesscb-*.jsonl")))
    return text.count(EVP_LINE), text.count(LEGACY_LINE)


def check_forms(what, d, want):
    """Every ctx in `d` got the form `want` ("evp" or "legacy"), at least one."""
    evp, legacy = forms(d)
    ok = (evp > 0 and legacy == 0) if want == "evp" else (legacy > 0 and evp == 0)
    R.check("%s: every ctx got the %s form" % (what, want), ok, "evp %d, legacy %d ctxs" % (evp, legacy))


def debian_pair(tls):
    """Two Debian 3.0 s_servers: a ticket from A offered to B."""
    plain_d = cfg.FX.rundir("%s-s_server-%s-plain" % (LABEL, tls))
    d = cfg.FX.rundir("%s-s_server-%s" % (LABEL, tls))
    plain = cross_resumed(plain_d, tls, store_env(plain_d), store_env(plain_d), [])
    env = store_env(d, evp_keys(d))
    shared = cross_resumed(d, tls, env, env, [])
    ok = plain == 0 and shared == SESSIONS
    R.row("tickets-evp s_server 3.0", tls, "A->B", tickets.rate(plain), tickets.rate(shared), "ok" if ok else "FAIL")
    R.check("tickets-evp s_server 3.0 TLS %s: plain 0, evp %d" % (tls, SESSIONS), ok,
            "plain %s, evp %s" % (plain, shared))
    check_forms("tickets-evp s_server 3.0 TLS %s" % tls, d, "evp")


def across_forms(tls):
    """A ticket made under one form resumes under the other (Debian 3.0
    s_servers, legacy A -> evp B and evp A -> legacy B): the EVP form sets
    the same AES and HMAC keys as the legacy form, whose HMAC_Init_ex is
    OpenSSL's own API (two EVP servers alone would agree even on a wrong
    MAC key)."""
    for a_form, b_form in (("legacy", "evp"), ("evp", "legacy")):
        d = cfg.FX.rundir("%s-across-%s-%s-%s" % (LABEL, a_form, b_form, tls))
        env = [store_env(d, tickets.keys_on(d, SESSCB_TICKET_FORM=f)) for f in (a_form, b_form)]
        resumed = cross_resumed(d, tls, env[0], env[1], [])
        evp, legacy = forms(d)
        R.row("tickets-evp %s->%s" % (a_form, b_form), tls, "A->B", "-", tickets.rate(resumed),
              "ok" if resumed == SESSIONS else "FAIL")
        R.check("tickets-evp TLS %s: %s A -> %s B resumes %d" % (tls, a_form, b_form, SESSIONS),
                resumed == SESSIONS and evp > 0 and legacy > 0,
                "resumed %s; evp %d, legacy %d ctxs" % (resumed, evp, legacy))


def build_pairs(tls):
    """The same pair on the other builds; 1.1.1w has no EVP setter, so the
    legacy form serves there."""
    for name, prefix in tickets.BUILDS:
        if not os.path.exists(os.path.join(prefix, "bin", "openssl")):
            R.note("tickets-evp: OpenSSL %s build absent, not run" % name)
            continue
        plain_d = cfg.FX.rundir("%s-%s-%s-plain" % (LABEL, name, tls))
        d = cfg.FX.rundir("%s-%s-%s" % (LABEL, name, tls))
        plain = tickets.build_pair(plain_d, tls, store_env(plain_d), prefix)
        shared = tickets.build_pair(d, tls, store_env(d, evp_keys(d)), prefix)
        ok = plain == 0 and shared == SESSIONS
        R.row("tickets-evp s_server %s" % name, tls, "A->B", tickets.rate(plain), tickets.rate(shared),
              "ok" if ok else "FAIL")
        R.check("tickets-evp OpenSSL %s TLS %s: plain 0, evp %d" % (name, tls, SESSIONS), ok,
                "plain %s, evp %s" % (plain, shared))
        check_forms("tickets-evp OpenSSL %s TLS %s" % (name, tls), d, "legacy" if name == "1.1.1w" else "evp")


def python_cases(tls):
    """tickets.py's Python-server cases under the EVP form."""
    tickets.python_counted(tls, evp_keys, LABEL)
    check_forms("tickets-evp python TLS %s" % tls, cfg.FX.rundir("%s-py-counted-%s" % (LABEL, tls)), "evp")
    tickets.forged(tls, evp_keys, LABEL)
    check_forms("tickets-evp forged TLS %s" % tls, cfg.FX.rundir("%s-forged-%s" % (LABEL, tls)), "evp")
    tickets.own_keys(tls, evp_keys, LABEL)
    check_forms("tickets-evp own keys TLS %s" % tls, cfg.FX.rundir("%s-own-keys-%s" % (LABEL, tls)), "evp")


NODEPRECATED = "SESSCB_OPENSSL_NODEPRECATED"


def no_deprecated(tls):
    """`auto` on a libssl built with no-deprecated (3.5 configured so by
    scripts/build-openssl.sh 3.5-nodep, `make openssl35ND`; the variable
    NODEPRECATED names another): that libssl refuses the legacy control, so
    every ctx gets the EVP form and tickets are shared; `legacy` there keeps
    OpenSSL's own keys (0/4)."""
    prefix = os.environ.get(NODEPRECATED) or cfg.OSSL35_NODEPRECATED
    if not R.check("tickets-evp: a no-deprecated OpenSSL is built (%s)" % prefix,
                   bool(prefix) and os.path.exists(os.path.join(prefix, "bin", "openssl")),
                   "run `make openssl35ND` (or set %s)" % NODEPRECATED):
        return
    plain_d = cfg.FX.rundir("%s-nodep-%s-plain" % (LABEL, tls))
    d = cfg.FX.rundir("%s-nodep-%s" % (LABEL, tls))
    legacy_d = cfg.FX.rundir("%s-nodep-%s-legacy" % (LABEL, tls))
    plain = tickets.build_pair(plain_d, tls, store_env(plain_d), prefix)
    shared = tickets.build_pair(d, tls, store_env(d, tickets.keys_on(d)), prefix)
    legacy = tickets.build_pair(legacy_d, tls, store_env(legacy_d, tickets.keys_on(legacy_d, SESSCB_TICKET_FORM="legacy")),
                                prefix)
    ok = plain == 0 and shared == SESSIONS and legacy == 0
    R.row("tickets-evp no-deprecated auto", tls, "A->B", tickets.rate(plain), tickets.rate(shared), "ok" if ok else "FAIL")
    R.check("tickets-evp no-deprecated TLS %s: plain 0, auto %d, legacy-only 0" % (tls, SESSIONS), ok,
            "plain %s, auto %s, legacy %s" % (plain, shared, legacy))
    check_forms("tickets-evp no-deprecated auto TLS %s" % tls, d, "evp")
    evp, refused = forms(legacy_d)
    R.check("tickets-evp no-deprecated TLS %s: legacy-only installs nothing" % tls, evp == refused == 0,
            "evp %d, legacy %d ctxs" % (evp, refused))


def bad_form():
    """SESSCB_TICKET_FORM=bogus: one line on stderr, auto (the legacy form
    on this build), tickets still shared."""
    d = cfg.FX.rundir("%s-bad-form" % LABEL)
    env = store_env(d, tickets.keys_on(d, SESSCB_TICKET_FORM="bogus"))
    resumed, _a, b = tickets.py_cross(d, "1.3", env, env)
    err = read_text(os.path.join(d, "a.err"))
    R.check("tickets-evp: a bad SESSCB_TICKET_FORM -> one line, auto, tickets shared",
            resumed == SESSIONS and err.count("sesscb: SESSCB_TICKET_FORM") == 1
            and b.get("decrypted") == SESSIONS, "resumed %s, B %s, stderr %r" % (resumed, b, err[-300:]))
    check_forms("tickets-evp bad SESSCB_TICKET_FORM", d, "legacy")


def test_tickets_evp():
    if not os.access(SESSCB, os.X_OK):
        R.check("tickets-evp: %s built" % SESSCB, False, "run `make lib`")
        return
    for tls in cfg.TLS_VERSIONS:
        debian_pair(tls)
        across_forms(tls)
        build_pairs(tls)
        python_cases(tls)
        no_deprecated(tls)
    for tls in cfg.TLS_VERSIONS:
        d = cfg.FX.rundir("%s-rotation-%s" % (LABEL, tls))
        tickets.rotation(tls, evp_keys, LABEL)
        check_forms("tickets-evp rotation TLS %s" % tls, d, "evp")
    bad_form()
