#!/usr/bin/env bash
# A second broker for the integration tests: Debian 13's RabbitMQ 4.0 (Erlang 27) in a Debian 13 root,
# beside the main 3.10 broker, configured to refuse what RabbitMQ 4.3 refuses by default
# (transient non-exclusive queues, global qos).
#
#   scripts/broker4.sh up       build the root once (debootstrap + apt-get), start the node, wait for it
#   scripts/broker4.sh down     stop the node, unmount the root's /proc (the root stays, for the next up)
#   scripts/broker4.sh status   exit 0 when the node answers
#   scripts/broker4.sh ctl …    rabbitmqctl against that node (run inside the root, as rabbitmq)
#   scripts/broker4.sh rebuild  remove the root and build it again
#
# The node: warren4@localhost on 127.0.0.1:5690, distribution port 25690, its own epmd on 4390, all its
# files (config, mnesia, logs, cookie) inside the root. The root lives outside the repo
# ($WARREN_BROKER4_DIR, default /var/cache/warren-broker4) so it survives between sessions on the same
# machine; `up` rebuilds it when it is missing or incomplete. Needs root (debootstrap, chroot, mount).
set -euo pipefail

DIR="${WARREN_BROKER4_DIR:-/var/cache/warren-broker4}"
ROOT="$DIR/root"
SUITE=trixie
NODE=warren4@localhost
PORT=5690
DIST_PORT=25690
EPMD_PORT=4390
STAMP="$ROOT/etc/warren-broker4.ready"
# Bump when the root's contents (packages, config layout) change: `up` then rebuilds.
LAYOUT=1

say() { printf 'broker4: %s\n' "$*"; }
die() { printf 'broker4: %s\n' "$*" >&2; exit 1; }

# Prints "<step> took Ns" after a step, so slow builds show where the time goes.
timed() {
  local label=$1 start=$SECONDS
  shift
  "$@"
  say "$label took $((SECONDS - start))s"
}

# Debian's mirror as apt is configured on this machine (deb822 .sources or one-line sources.list).
mirror() {
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' |
    grep -E '/debian/?$' | head -n1 || true)"
  if [ -z "$uri" ]; then
    uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' |
      grep -E '/debian/?$' | head -n1 || true)"
  fi
  [ -n "$uri" ] || die "no Debian mirror in /etc/apt/sources.list*"
  echo "${uri%/}"
}

mounted() { mountpoint -q "$ROOT/proc" 2>/dev/null; }

mount_proc() {
  mounted || mount -t proc proc "$ROOT/proc"
}

unmount_proc() {
  if mounted; then umount "$ROOT/proc" || umount -l "$ROOT/proc"; fi
}

# Runs a command inside the root as the rabbitmq user with the node's environment.
# fd 9 (the up/down lock) is closed: the detached node would otherwise hold the lock for its whole life.
in_root() {
  chroot "$ROOT" /usr/local/sbin/warren4 "$@" 9>&-
}

ctl() {
  in_root /usr/lib/rabbitmq/bin/rabbitmqctl "$@"
}

running() {
  [ -f "$STAMP" ] && mounted && ctl -q ping >/dev/null 2>&1
}

healthy_root() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LAYOUT" ] && [ -x "$ROOT/usr/lib/rabbitmq/bin/rabbitmq-server" ] &&
    [ -x "$ROOT/usr/local/sbin/warren4" ]
}

remove_root() {
  stop_node
  unmount_proc
  # --one-file-system: never follow a mount that is still there into the host.
  [ -d "$ROOT" ] && rm -rf --one-file-system "$ROOT"
  return 0
}

debootstrap_root() {
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing (apt-get install debootstrap)"
  local url
  url="$(mirror)"
  say "debootstrap $SUITE (minbase) from $url into $ROOT"
  mkdir -p "$DIR"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$url" >"$DIR/debootstrap.log" 2>&1 ||
    { tail -n 20 "$DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
}

install_rabbitmq() {
  # Keep apt from starting services inside the root.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 755 "$ROOT/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  cp /etc/hosts "$ROOT/etc/hosts"
  mount_proc
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends rabbitmq-server' \
    >"$DIR/apt.log" 2>&1 || { tail -n 20 "$DIR/apt.log" >&2; die "apt-get in the root failed (log: $DIR/apt.log)"; }
  chroot "$ROOT" dpkg-query -W -f='broker4: installed rabbitmq-server ${Version}\n' rabbitmq-server
}

configure_root() {
  mkdir -p "$ROOT/etc/rabbitmq" "$ROOT/usr/local/sbin"
  cat >"$ROOT/etc/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$PORT
# guest may log in, over the loopback interface only.
loopback_users.guest = true
# What RabbitMQ 4.3 denies by default.
deprecated_features.permit.transient_nonexcl_queues = false
deprecated_features.permit.global_qos = false
log.console = false
log.file.level = info
EOF
  cat >"$ROOT/etc/rabbitmq/rabbitmq-env.conf" <<EOF
NODENAME=$NODE
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$PORT
DIST_PORT=$DIST_PORT
EOF
  echo '[].' >"$ROOT/etc/rabbitmq/enabled_plugins"
  # The one way in: the node's environment, as the rabbitmq user. Used for the server and rabbitmqctl.
  cat >"$ROOT/usr/local/sbin/warren4" <<EOF
#!/bin/sh
cd /var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \\
  env -i PATH=/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/var/lib/rabbitmq LANG=C.UTF-8 \\
  RABBITMQ_NODENAME=$NODE ERL_EPMD_PORT=$EPMD_PORT ERL_EPMD_ADDRESS=127.0.0.1 \\
  RABBITMQ_PID_FILE=/var/lib/rabbitmq/warren4.pid \\
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \\
  "\$@"
EOF
  chmod 755 "$ROOT/usr/local/sbin/warren4"
  echo "$LAYOUT" >"$STAMP"
}

build() {
  remove_root
  timed "debootstrap" debootstrap_root
  timed "apt-get install rabbitmq-server" install_rabbitmq
  configure_root
}

start_node() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something that is not $NODE already listens on 127.0.0.1:$PORT"
  fi
  # Every start begins with empty data: the node only serves tests, and after an unclean stop (the end of
  # a CI run kills it) RabbitMQ 4.0.5 fails to boot: checking whether transient_nonexcl_queues is in use
  # before its queue table is loaded, it concludes it cannot deny the feature (BOOT FAILED,
  # failed_to_deny_deprecated_features).
  rm -rf "$ROOT/var/lib/rabbitmq/mnesia"
  say "starting $NODE on 127.0.0.1:$PORT"
  in_root /usr/lib/rabbitmq/bin/rabbitmq-server -detached >/dev/null
  local deadline=$((SECONDS + 120))
  until ctl -q ping >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$NODE did not come up; see $ROOT/var/log/rabbitmq" >&2
      return 1
    fi
    sleep 1
  done
  ctl -q await_startup --timeout 120
  # await_startup can return before a boot that then fails: only a listening AMQP port is proof.
  until (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ] || ! ctl -q ping >/dev/null 2>&1; then
      say "$NODE does not listen on 127.0.0.1:$PORT; see $ROOT/var/log/rabbitmq" >&2
      return 1
    fi
    sleep 1
  done
}

stop_node() {
  [ -x "$ROOT/usr/local/sbin/warren4" ] && mounted || return 0
  if ctl -q ping >/dev/null 2>&1; then
    say "stopping $NODE"
    ctl -q stop /var/lib/rabbitmq/warren4.pid >/dev/null 2>&1 || ctl -q stop >/dev/null 2>&1 || true
  fi
  # The node's own epmd (its port only; the main broker's epmd on 4369 is not touched).
  in_root epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
}

up() {
  local start=$SECONDS
  if running; then
    say "$NODE already runs on 127.0.0.1:$PORT"
    return
  fi
  if ! healthy_root; then
    say "no usable root in $ROOT: building it"
    build
  fi
  mount_proc
  if ! timed "start" start_node; then
    # A root that installed but cannot start a node is broken: build it again once.
    say "the node did not start: rebuilding the root"
    build
    mount_proc
    timed "start" start_node
  fi
  say "$NODE is ready: WARREN_TEST_URL=amqp://guest:guest@127.0.0.1:$PORT/%2F (up took $((SECONDS - start))s)"
}

down() {
  stop_node
  unmount_proc
  say "$NODE is down"
}

[ "$(id -u)" = 0 ] || die "needs root (chroot, mount, debootstrap)"
mkdir -p "$DIR"
cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  # One up/down/rebuild at a time; ctl and status need no lock (tests run many ctl calls at once).
  up | down | rebuild)
    exec 9>"$DIR/.lock"
    flock -x 9
    case "$cmd" in
      up) up ;;
      down) down ;;
      rebuild) build && up ;;
    esac
    ;;
  status)
    if running; then say "$NODE runs on 127.0.0.1:$PORT"; else say "$NODE is not running"; exit 1; fi
    ;;
  ctl)
    healthy_root && mounted || die "$NODE is not up (scripts/broker4.sh up)"
    ctl "$@"
    ;;
  *) echo "usage: $0 up|down|status|rebuild|ctl args..." >&2; exit 2 ;;
esac
