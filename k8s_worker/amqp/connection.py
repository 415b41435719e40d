"""Opening AMQP connections from ``transport_url`` and ``[oslo_messaging_rabbit]``.

The URL may name several hosts (``rabbit://u:p@h1:5672,u:p@h2:5672/vhost``);
``connect`` tries them in turn (round-robin or shuffle, as
``kombu_failover_strategy`` says) with tenacity's exponential backoff bounded
by ``rabbit_retry_interval``/``rabbit_retry_backoff``/``rabbit_interval_max``.
TLS and heartbeat follow the same options as oslo.messaging.
"""

from __future__ import annotations

import os
import random
import ssl
import sys
from dataclasses import dataclass, field

import aio_pika
import oslo_messaging
import structlog
import tenacity
from aio_pika.abc import AbstractConnection
from oslo_config import cfg
from yarl import URL

from k8s_worker.amqp.options import rabbit_options

LOG = structlog.get_logger(__name__)

_TLS_VERSIONS: dict[str, ssl.TLSVersion] = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1_1": ssl.TLSVersion.TLSv1_1,
    "tlsv1_2": ssl.TLSVersion.TLSv1_2,
    "tlsv1_3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class BrokerHost:
    """One broker of a transport_url: where, and as whom (the password never in its repr)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to (re)open a connection; password-free repr."""

    hosts: tuple[BrokerHost, ...]
    virtual_host: str
    heartbeat: int
    use_ssl: bool
    ssl_ca_file: str = ""
    ssl_cert_file: str = ""
    ssl_key_file: str = ""
    ssl_version: str = ""
    failover: str = "round-robin"
    retry_interval: float = 1.0
    retry_backoff: float = 2.0
    interval_max: float = 30.0

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts, *, url: str | None = None) -> ConnectionSettings:
        rabbit = rabbit_options(conf, url=url)
        parsed = oslo_messaging.TransportURL.parse(conf, url or conf.transport_url)
        hosts = tuple(
            BrokerHost(
                host=h.hostname or "localhost",
                port=h.port or 5672,
                username=h.username or "guest",
                password=h.password or "guest",
            )
            for h in parsed.hosts
        ) or (BrokerHost("localhost", 5672, "guest", "guest"),)
        return cls(
            hosts=hosts,
            virtual_host=parsed.virtual_host or "",
            heartbeat=rabbit.heartbeat_timeout_threshold,
            use_ssl=rabbit.ssl,
            ssl_ca_file=rabbit.ssl_ca_file,
            ssl_cert_file=rabbit.ssl_cert_file,
            ssl_key_file=rabbit.ssl_key_file,
            ssl_version=rabbit.ssl_version,
            failover=rabbit.kombu_failover_strategy,
            retry_interval=rabbit.rabbit_retry_interval,
            retry_backoff=rabbit.rabbit_retry_backoff,
            interval_max=rabbit.rabbit_interval_max,
        )

    def url_for(self, host: BrokerHost) -> URL:
        """The aio-pika URL of one host (credentials included; never log it)."""
        # Not quoted here: URL.build quotes the path once, and aiormq reads the
        # vhost from the decoded path (a quoted name would arrive quoted).
        path = "/" + self.virtual_host if self.virtual_host else "/"
        return URL.build(
            scheme="amqps" if self.use_ssl else "amqp",
            user=host.username,
            password=host.password,
            host=host.host,
            port=host.port,
            path=path,
            encoded=False,
        ).with_query({"heartbeat": str(self.heartbeat)})

    def ssl_context(self) -> ssl.SSLContext | None:
        """oslo's rules: verify against ssl_ca_file when set, else do not verify."""
        if not self.use_ssl:
            return None
        if self.ssl_ca_file:
            context = ssl.create_default_context(cafile=self.ssl_ca_file)
            context.check_hostname = len(self.hosts) == 1
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.ssl_cert_file:
            context.load_cert_chain(self.ssl_cert_file, self.ssl_key_file or None)
        if self.ssl_version and self.ssl_version.lower() in _TLS_VERSIONS:
            # oslo (kombu) speaks exactly the version named, not "at least" it.
            version = _TLS_VERSIONS[self.ssl_version.lower()]
            context.minimum_version = version
            context.maximum_version = version
        return context


class _HostCycle:
    """The next host to try, in the order kombu_failover_strategy asks for."""

    def __init__(self, hosts: tuple[BrokerHost, ...], *, strategy: str) -> None:
        self._hosts = list(hosts)
        if strategy == "shuffle" or len(self._hosts) > 1:
            random.shuffle(self._hosts)  # oslo shuffles multi-host URLs too
        self._shuffle = strategy == "shuffle"
        self._index = 0

    def next(self) -> BrokerHost:
        if self._shuffle:
            return random.choice(self._hosts)
        host = self._hosts[self._index % len(self._hosts)]
        self._index += 1
        return host


async def connect(
    settings: ConnectionSettings, *, purpose: str, max_attempts: int | None = None
) -> AbstractConnection:
    """Open a connection to one of the hosts, retrying with backoff until it works."""
    hosts = _HostCycle(settings.hosts, strategy=settings.failover)
    context = settings.ssl_context()
    name = f"{os.path.basename(sys.argv[0])}:{os.getpid()}:{purpose}"
    stop = tenacity.stop_after_attempt(max_attempts) if max_attempts else tenacity.stop_never

    tried: list[BrokerHost] = []  # the host of the attempt that just failed

    def _log_retry(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        LOG.warning(
            "amqp.connect_failed",
            purpose=purpose,
            host=tried[-1].host if tried else None,
            port=tried[-1].port if tried else None,
            attempt=state.attempt_number,
            error=str(exc),
            retry_in=round(state.upcoming_sleep, 2),
        )

    retrying = tenacity.AsyncRetrying(
        stop=stop,
        wait=tenacity.wait_exponential(
            multiplier=settings.retry_interval,
            exp_base=max(settings.retry_backoff, 1.01),
            max=settings.interval_max,
        ),
        retry=tenacity.retry_if_exception_type(
            (OSError, ConnectionError, aio_pika.exceptions.AMQPError)
        ),
        before_sleep=_log_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            host = hosts.next()
            tried[:] = [host]
            connection = aio_pika.Connection(
                settings.url_for(host),
                ssl_context=context,
                client_properties={"connection_name": name},
            )
            try:
                await connection.connect()
            except BaseException:
                # Closed here, not by its __del__ later (a coroutine nobody awaits).
                await connection.close()
                raise
            LOG.info("amqp.connected", purpose=purpose, host=host.host, port=host.port)
            return connection
    raise AssertionError("unreachable")  # pragma: no cover
