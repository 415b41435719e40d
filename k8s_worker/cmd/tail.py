"""``k8s-worker-tail``: print the worker's notifications as they arrive.

    k8s-worker-tail --transport-url rabbit://guest:guest@broker:5672/
    k8s-worker-tail --config-file /etc/tacker/k8s-worker.conf --vnf 'a1b2*' --priority warn
    k8s-worker-tail --event 'vnf.scale.*' --event vnf.policy.triggered --json | jq .payload
    k8s-worker-tail --queue ops-audit            # durable: replays what arrived meanwhile
    k8s-worker-tail --event vnf.instantiate.end --vnf "$VNF" --count 1 --timeout 300

Broker, exchange and topics come from the command line, else from the
configuration files (oslo.config's usual search for ``k8s-worker.conf`` and
``tacker.conf``, or ``--config-file``), else from oslo.messaging's defaults.
Terminal lines when stdout is a terminal, JSON lines otherwise (``--json`` /
``--no-json`` choose).  Logs go to stderr.

Exit status: 0 after Ctrl-C/SIGTERM, ``--count`` events or ``--timeout``
without ``--count``; 1 when the broker cannot be reached or the connection is
lost; 2 on a usage error; 3 when ``--timeout`` passed before ``--count`` events.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    # k8s_worker.cmd (imported first) silenced eventlet's import-time banner.
    try:
        from k8s_worker.tail.cli import main as run_cli

        return run_cli(argv, usage=__doc__ or "")
    except KeyboardInterrupt:  # Ctrl-C before the event loop took over the signal
        return 0


if __name__ == "__main__":
    sys.exit(main())
