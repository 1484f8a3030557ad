"""The interop suite's modules (interop/run.py is the entry point).

Common: config (paths, settings), report (check counting, tables), procs
(processes, ports, files), fixture (temp dir, PKI, HTTP backend), clients
(s_client, curl, Python), traces (SESSCB_LOG counts, via tools/sesscb_trace),
checks (the plain/sesscb assertions), dropin (the systemd drop-in).
One module per server: bindings, twossl (and static), nginx, upgrade,
haproxy, stunnel, apache, s_server.
"""
