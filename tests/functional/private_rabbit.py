"""A private RabbitMQ node for one test module, and a throwaway TLS CA.

The node gets its own name, ports, data directory and ``rabbitmq.conf``, so a
test can stop it or give it listeners (TLS only, say) without touching the
shared test-bed broker.  It is started with ``rabbitmq-server -detached`` and
stopped by the pid in its own pid file; every socket it opens (AMQP listeners
as written in the config, Erlang distribution) is on 127.0.0.1.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

#: The session's private node with a plain listener (``private_rabbit`` fixture).
PRIVATE_NODE = os.environ.get("TKW_INTAKE_NODE", "tkwintake@localhost")
PRIVATE_PORT = int(os.environ.get("TKW_INTAKE_AMQP_PORT", "5679"))
PRIVATE_BASE = pathlib.Path(os.environ.get("TKW_INTAKE_RMQ_DIR", "/tmp/tkw-intake-rmq"))


@dataclass
class PrivateRabbit:
    """One node: ``start`` (unless it already runs) and ``stop`` (only if started here)."""

    node: str
    base: pathlib.Path
    dist_port: int
    started: bool = False

    @property
    def pid_file(self) -> pathlib.Path:
        return self.base / "pid"

    def ctl(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(
            ["rabbitmqctl", "-n", self.node, *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return result.stdout

    def is_up(self) -> bool:
        return (
            subprocess.run(
                ["rabbitmqctl", "-n", self.node, "await_startup", "--timeout", "1"],
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )

    def start(self, config: str, *, within: float = 120) -> None:
        """Start the node with ``config`` (rabbitmq.conf text) in a fresh data directory.

        Files the node must read (certificates...) may already be under ``base``;
        only the node's own directories are wiped.
        """
        self.base.mkdir(parents=True, exist_ok=True)
        for sub in ("mnesia", "log"):
            shutil.rmtree(self.base / sub, ignore_errors=True)
        (self.base / "rabbitmq.conf").write_text(config)
        (self.base / "enabled_plugins").write_text("[].\n")  # no management listener
        for path in [self.base, *self.base.rglob("*")]:
            shutil.chown(path, "rabbitmq", "rabbitmq")
        # An exported RABBITMQ_NODE_PORT & co. would add listeners to the config's.
        env = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        env |= {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),  # 3.10 takes the suffix
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
        }
        self.pid_file.unlink(missing_ok=True)
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, timeout=60)
        self.started = True
        try:
            self._await_node(within=within)
        except BaseException:
            self.stop()  # never leave a half-started node for the next run to trip on
            raise

    def _await_node(self, *, within: float) -> None:
        """Wait for the node to register and boot.

        ``rabbitmq-server -detached`` returns before the Erlang node has
        registered with epmd, and ``await_startup`` fails at once (exit 69) on a
        node it cannot reach, so poll until it answers.
        """
        deadline = time.monotonic() + within
        while True:
            result = subprocess.run(
                ["rabbitmqctl", "-n", self.node, "await_startup", "--timeout", "10"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                logs = sorted((self.base / "log").glob("*.log"))
                tail = logs[-1].read_text()[-2000:] if logs else "(no server log)"
                raise AssertionError(
                    f"private RabbitMQ node {self.node} did not start within {within:.0f} s:\n"
                    f"{result.stderr.strip()}\n--- server log ---\n{tail}"
                )
            time.sleep(0.5)

    def stop(self, *, within: float = 30) -> None:
        """Stop the node by its pid (only if this object started it) and wait for it to exit.

        SIGTERM first; SIGKILL if it is still there after ``within`` seconds, so a
        later start never finds a node that is stopping.
        """
        if not self.started:
            return
        self.started = False
        deadline = time.monotonic() + 60  # the node writes its pid file once it runs
        while not self.pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not self.pid_file.exists():
            return
        pid = int(self.pid_file.read_text().strip())
        for signum, wait in ((signal.SIGTERM, within), (signal.SIGKILL, 10.0)):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while pathlib.Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not pathlib.Path(f"/proc/{pid}").exists():
                return


def _openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def make_ca(directory: pathlib.Path, name: str) -> pathlib.Path:
    """A self-signed CA (``<name>.pem``/``<name>.key``) valid for a day; returns the cert."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", *_EC, "-days", "1", "-subj", f"/CN=tkw test CA {name}",
        "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem"


def make_cert(
    ca: pathlib.Path, directory: pathlib.Path, name: str, *, client: bool = False
) -> tuple[pathlib.Path, pathlib.Path]:
    """A cert signed by ``ca``, for localhost/127.0.0.1 (or a client's): (cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.ext").write_text(
        ("" if client else "subjectAltName = DNS:localhost, IP:127.0.0.1\n")
        + "basicConstraints = critical, CA:FALSE\n"
        + "keyUsage = critical, digitalSignature\n"
        + f"extendedKeyUsage = {'clientAuth' if client else 'serverAuth'}\n"
    )
    _openssl(
        "req", *_EC, "-subj", f"/CN={name if client else 'localhost'}",
        "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-days", "1", "-in", f"{name}.csr",
        "-CA", str(ca), "-CAkey", str(ca.with_suffix(".key")), "-CAcreateserial",
        "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip
    return directory / f"{name}.pem", directory / f"{name}.key"
