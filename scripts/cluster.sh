#!/usr/bin/env bash
# A throwaway three-node RabbitMQ cluster for the node-failover chaos tests, beside (never joined to) the
# main broker on 5672. Each node is a scripts/chaos-node.sh node with its own name, ports and files.
#
#   scripts/cluster.sh up      start warren-c1..3@localhost on 127.0.0.1:5681..5683 and cluster them
#   scripts/cluster.sh down    stop them and remove their files
#   scripts/cluster.sh kill N  kill node N's Erlang VM outright (a crash, not a shutdown)
#   scripts/cluster.sh ctl N … rabbitmqctl against node N
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
[ -x "$BIN/rabbitmqctl" ] || BIN="$(dirname "$(command -v rabbitmqctl)")"

node_env() {
  local n=$1
  echo "WARREN_CHAOS_NODENAME=warren-c$n@localhost WARREN_CHAOS_PORT=568$n WARREN_CHAOS_DIST_PORT=2568$n WARREN_CHAOS_DIR=/tmp/warren-c$n"
}

node() {
  local n=$1
  shift
  env $(node_env "$n") "$HERE/chaos-node.sh" "$@"
}

ctl() {
  local n=$1
  shift
  if [ "$(id -u)" = 0 ] && id -u rabbitmq >/dev/null 2>&1; then
    su rabbitmq -s /bin/sh -c "cd /tmp && exec $(printf %q "$BIN/rabbitmqctl") -n warren-c$n@localhost $(printf '%q ' "$@")"
  else
    "$BIN/rabbitmqctl" -n "warren-c$n@localhost" "$@"
  fi
}

up() {
  local pids=()
  for n in 1 2 3; do
    node "$n" up &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  for n in 2 3; do
    if ! ctl "$n" -q cluster_status | grep -q "warren-c1@localhost"; then
      ctl "$n" -q stop_app
      ctl "$n" -q join_cluster warren-c1@localhost
      ctl "$n" -q start_app
    fi
  done
  ctl 1 -q await_startup --timeout 60
  echo "cluster: warren-c1..3@localhost up on 127.0.0.1:5681..5683"
}

down() {
  for n in 1 2 3; do node "$n" down || true; done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kill)
    pid="$(cat "/tmp/warren-c${2:?node number}/pid")"
    kill -9 "$pid"
    ;;
  ctl)
    n="${2:?node number}"
    shift 2
    ctl "$n" "$@"
    ;;
  *) echo "usage: $0 up|down|kill N|ctl N args..." >&2; exit 2 ;;
esac
