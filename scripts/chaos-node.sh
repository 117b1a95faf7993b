#!/usr/bin/env bash
# A throwaway RabbitMQ node for developing the chaos tests without disturbing the main broker
# (rabbit@localhost, port 5672) that other test runs share.
#
#   scripts/chaos-node.sh up      start warren-chaos@localhost on 127.0.0.1:5673 and wait until it is ready
#   scripts/chaos-node.sh down    stop it and remove its files
#   scripts/chaos-node.sh status  print whether it runs
#
# Then:
#   WARREN_CHAOS_URL=amqp://guest:guest@127.0.0.1:5673/%2F WARREN_CHAOS_NODE=warren-chaos@localhost \
#     npx vitest run --config vitest.chaos.config.ts
#
# Everything lives under $WARREN_CHAOS_DIR (default /tmp/warren-chaos): its own config file (the system
# /etc/rabbitmq/rabbitmq.conf pins the listener to 5672), its own env file (the system one pins the node
# name), mnesia, logs, plugins list and pid file. It shares the Erlang cookie of the user that runs it, so
# the usual rabbitmqctl (-n warren-chaos@localhost) reaches it. Run as root, the node runs as the
# rabbitmq user, as the Debian wrapper scripts do.
set -euo pipefail

NODE="${WARREN_CHAOS_NODENAME:-warren-chaos@localhost}"
PORT="${WARREN_CHAOS_PORT:-5673}"
DIST_PORT="${WARREN_CHAOS_DIST_PORT:-25673}"
BASE="${WARREN_CHAOS_DIR:-/tmp/warren-chaos}"
BIN="${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
[ -x "$BIN/rabbitmq-server" ] || BIN="$(dirname "$(command -v rabbitmq-server)")"

case "$NODE" in
  rabbit@*) echo "chaos-node: refusing to manage $NODE (that is the main node's name)" >&2; exit 2 ;;
esac
if [ "$PORT" = 5672 ]; then
  echo "chaos-node: refusing port 5672 (the main broker's)" >&2
  exit 2
fi

# Runs a command as the user the node runs as (rabbitmq when we are root), with the node's environment.
as_node_user() {
  local envs=(
    "RABBITMQ_NODENAME=$NODE"
    "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1"
    "RABBITMQ_NODE_PORT=$PORT"
    "RABBITMQ_DIST_PORT=$DIST_PORT"
    "RABBITMQ_CONF_ENV_FILE=$BASE/rabbitmq-env.conf"
    "RABBITMQ_CONFIG_FILE=$BASE/rabbitmq.conf"
    "RABBITMQ_ADVANCED_CONFIG_FILE=$BASE/advanced.config"
    "RABBITMQ_MNESIA_BASE=$BASE/mnesia"
    "RABBITMQ_MNESIA_DIR=$BASE/mnesia/$NODE"
    "RABBITMQ_LOG_BASE=$BASE/log"
    "RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/enabled_plugins"
    "RABBITMQ_PLUGINS_EXPAND_DIR=$BASE/plugins-expand"
    "RABBITMQ_PID_FILE=$BASE/pid"
    "RABBITMQ_QUORUM_DIR=$BASE/mnesia/$NODE/quorum"
    "RABBITMQ_STREAM_DIR=$BASE/mnesia/$NODE/stream"
    "ERL_EPMD_ADDRESS=127.0.0.1"
  )
  if [ "$(id -u)" = 0 ] && id -u rabbitmq >/dev/null 2>&1; then
    local cmd
    cmd="cd $(printf %q "$BASE") && exec env $(printf '%q ' "${envs[@]}") $(printf '%q ' "$@")"
    su rabbitmq -s /bin/sh -c "$cmd"
  else
    (cd "$BASE" && env "${envs[@]}" "$@")
  fi
}

ctl() {
  # rabbitmqctl only needs the node name (and the shared cookie) to reach the node.
  if [ "$(id -u)" = 0 ] && id -u rabbitmq >/dev/null 2>&1; then
    su rabbitmq -s /bin/sh -c "cd /tmp && exec $(printf %q "$BIN/rabbitmqctl") -n $(printf %q "$NODE") $(printf '%q ' "$@")"
  else
    "$BIN/rabbitmqctl" -n "$NODE" "$@"
  fi
}

running() {
  ctl -q ping >/dev/null 2>&1
}

up() {
  if running; then
    echo "chaos-node: $NODE already runs"
    ctl -q await_startup --timeout 60
    return
  fi
  rm -rf "$BASE"
  mkdir -p "$BASE/mnesia" "$BASE/log" "$BASE/plugins-expand"
  cat >"$BASE/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$PORT
loopback_users.guest = true
EOF
  echo '[].' >"$BASE/advanced.config"
  echo '[].' >"$BASE/enabled_plugins"
  cat >"$BASE/rabbitmq-env.conf" <<EOF
# Intentionally (almost) empty: keeps /etc/rabbitmq/rabbitmq-env.conf (NODENAME=rabbit@localhost) out.
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  if [ "$(id -u)" = 0 ] && id -u rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$BASE"; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "chaos-node: something already listens on 127.0.0.1:$PORT" >&2
    exit 1
  fi
  echo "chaos-node: starting $NODE on 127.0.0.1:$PORT (files in $BASE)"
  as_node_user "$BIN/rabbitmq-server" -detached
  local deadline=$((SECONDS + 90))
  until running; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "chaos-node: $NODE did not come up; see $BASE/log" >&2
      exit 1
    fi
    sleep 1
  done
  ctl -q await_startup --timeout 90
  ctl -q set_vm_memory_high_watermark 0.4 >/dev/null
  ctl -q set_disk_free_limit 50MB >/dev/null
  echo "chaos-node: $NODE is ready: WARREN_CHAOS_URL=amqp://guest:guest@127.0.0.1:$PORT/%2F WARREN_CHAOS_NODE=$NODE"
}

down() {
  if running; then
    echo "chaos-node: stopping $NODE"
    ctl -q stop || true
  fi
  local pid=''
  [ -f "$BASE/pid" ] && pid="$(cat "$BASE/pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    # Only the pid this node wrote, never anything matched by name.
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" || true; fi
  fi
  rm -rf "$BASE"
  echo "chaos-node: $NODE is down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running; then echo "chaos-node: $NODE runs"; else echo "chaos-node: $NODE is not running"; exit 1; fi ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
