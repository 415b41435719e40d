#!/usr/bin/env bash
# RabbitMQ of the test bed on 127.0.0.1: reuse a running broker, otherwise
# install Debian's rabbitmq-server when missing and start it detached, bound to
# loopback only, then wait until it accepts AMQP connections.
#   rabbitmq.sh up | down | restart | status
set -euo pipefail
. "$(dirname "$0")/common.sh"

export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$TKW_AMQP_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:-25672}
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_PID_FILE=/var/lib/rabbitmq/tkw-rabbitmq.pid

amqp_ready() {
  # A real AMQP handshake, not only an open port: the broker answers the
  # protocol header with connection.start.
  python3 - "$TKW_AMQP_PORT" 2>/dev/null <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"AMQP\x00\x00\x09\x01")
data = s.recv(7)
sys.exit(0 if len(data) == 7 and data[0] == 1 else 1)
PY

}

install() {
  command -v rabbitmq-server >/dev/null && return
  say "installing Debian's rabbitmq-server"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >/dev/null; }
}

up() {
  if amqp_ready; then say "rabbitmq: reusing the broker on 127.0.0.1:$TKW_AMQP_PORT"; return; fi
  install
  say "rabbitmq: starting (rabbitmq-server -detached)"
  rm -f "$RABBITMQ_PID_FILE"
  rabbitmq-server -detached
  wait_for "rabbitmq pid file" 60 test -s "$RABBITMQ_PID_FILE"
  cp "$RABBITMQ_PID_FILE" "$TKW_STATE/rabbitmq.pid"
  wait_for "AMQP on 127.0.0.1:$TKW_AMQP_PORT" 120 amqp_ready
  say "rabbitmq: ready, amqp://guest:guest@127.0.0.1:$TKW_AMQP_PORT/"
}

down() {
  if alive rabbitmq; then stop_pid rabbitmq
  else say "rabbitmq: not started by the test bed, left alone"; fi
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  restart) down; up ;;
  status) amqp_ready && echo "rabbitmq: ready" || { echo "rabbitmq: down"; exit 1; } ;;
  *) die "usage: $0 up|down|restart|status" ;;
esac
