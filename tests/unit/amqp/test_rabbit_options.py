"""[oslo_messaging_rabbit] options given in the transport URL's query, as oslo reads them."""

from __future__ import annotations

import pytest
from oslo_config import cfg

from k8s_worker.amqp.connection import ConnectionSettings
from k8s_worker.amqp.options import rabbit_options
from k8s_worker.amqp.topology import RabbitSettings

URL = "rabbit://u:p@127.0.0.1:5672/"


def conf(**rabbit: object) -> cfg.ConfigOpts:
    c = cfg.ConfigOpts()
    c([], project="k8s_worker", default_config_files=[])
    rabbit_options(c, url=URL)  # registers oslo's options
    c.set_override("transport_url", URL)
    for name, value in rabbit.items():
        c.set_override(name, value, group="oslo_messaging_rabbit")
    return c


def test_the_query_wins_over_the_file_with_the_options_type():
    c = conf(amqp_durable_queues=False, rabbit_qos_prefetch_count=0)
    url = URL + "?amqp_durable_queues=true&rabbit_qos_prefetch_count=7"
    options = rabbit_options(c, url=url)
    assert options.amqp_durable_queues is True
    assert options.rabbit_qos_prefetch_count == 7
    assert options.rabbit_ha_queues is False  # not in the query: the file's value
    settings = RabbitSettings.from_conf(c, url=url)
    assert settings.amqp_durable_queues is True and settings.prefetch_count == 7


def test_without_a_url_the_default_transport_url_is_read():
    c = conf()
    c.set_override("transport_url", URL + "?ssl=true&kombu_failover_strategy=shuffle")
    settings = ConnectionSettings.from_conf(c)
    assert settings.use_ssl is True and settings.failover == "shuffle"


def test_an_unknown_query_parameter_is_named():
    with pytest.raises(ValueError, match=r"'no_such_thing' is not an \[oslo_messaging_rabbit\]"):
        rabbit_options(conf(), url=URL + "?no_such_thing=1")


def test_a_bad_value_is_named_with_its_parameter():
    with pytest.raises(ValueError, match=r"rabbit_qos_prefetch_count='many'"):
        rabbit_options(conf(), url=URL + "?rabbit_qos_prefetch_count=many")


@pytest.mark.parametrize("vhost", ["/", "tacker", "a/b", "tacker vh", "50%"])
def test_the_virtual_host_reaches_aiormq_as_named(vhost: str) -> None:
    from urllib.parse import quote

    import aiormq

    c = conf()
    settings = ConnectionSettings.from_conf(
        c, url=f"rabbit://u:p@127.0.0.1:5672/{quote(vhost, safe='')}"
    )
    assert settings.virtual_host == vhost
    connection = aiormq.Connection(settings.url_for(settings.hosts[0]))
    assert connection.vhost == vhost
