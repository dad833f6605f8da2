#!/usr/bin/env bash
# Fault-injection soak of the deploy engine (issue 16), on an engine of its own.
#
#   scripts/soak.sh up                 start the soak's own dockerd, registry and state tmpfs
#   scripts/soak.sh run [ARGS...]      run the harness (scripts/soak/soak.py; --help for ARGS)
#   scripts/soak.sh bench [MINUTES] [ARGS...]
#                                      the long run (docs/benchmarks.md): up, fault kinds in turn
#                                      until each was injected 30 times (at most 720 cycles) or
#                                      MINUTES (default 60) passed, the figures, down
#   scripts/soak.sh down               stop what `up` started and remove its containers
#   scripts/soak.sh status             print what runs
#
# Faults stop and start dockerd and the registry, so the soak never uses the shared ones
# (scripts/testenv.sh): it runs a second dockerd on its own socket, data root and exec root,
# without bridges or iptables (the compose project uses host networking), and a second
# docker-registry on its own port. The stub images come from the shared engine (built there
# by scripts/testenv.sh up) through `docker save | docker load`.
#
# Paths: state ${ELT_SOAK_DIR:-<repo>/.sandbox/soak}; sockets and exec root under
# ${ELT_SOAK_RUN:-/run/elt-soak} (short: unix socket paths are limited to 108 bytes);
# data root ${ELT_SOAK_DATA:-/var/lib/elt-soak}. Ports: ELT_SOAK_REGISTRY_PORT (5055).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${ELT_SOAK_DIR:-$ROOT/.sandbox/soak}
RUN=${ELT_SOAK_RUN:-/run/elt-soak}
DATA=${ELT_SOAK_DATA:-/var/lib/elt-soak}
REG_PORT=${ELT_SOAK_REGISTRY_PORT:-5055}
SOCK=$RUN/docker.sock
SOAK_HOST=unix://$SOCK
REPO_PATH=elt/english-listening-trainer
# The state folder of the console under test: a small tmpfs, so a fault can fill it.
STATE_TMPFS=$RUN/state
STATE_TMPFS_SIZE=${ELT_SOAK_STATE_SIZE:-8m}

say() { printf 'soak: %s\n' "$*"; }
die() { printf 'soak: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib/pidfile.sh
source "$ROOT/scripts/lib/pidfile.sh"
# shellcheck source=scripts/lib/default-bridge.sh
source "$ROOT/scripts/lib/default-bridge.sh"

sdocker() { DOCKER_HOST=$SOAK_HOST docker "$@"; }
soak_engine_up() { sdocker info >/dev/null 2>&1; }
soak_registry_up() { curl -fsS -m 2 "http://127.0.0.1:$REG_PORT/v2/" >/dev/null 2>&1; }

# The soak's dockerd. Also used by the harness to restart it after a "dockerd stopped" fault.
start_engine() {
  soak_engine_up && return 0
  [[ $(id -u) -eq 0 ]] || die "starting the soak's dockerd needs root"
  mkdir -p "$RUN/exec" "$DATA" "$STATE"
  # A crashed earlier dockerd can leave its pid file; dockerd refuses to start over a live one.
  pid_alive "$RUN/dockerd.pid" dockerd || rm -f "$RUN/dockerd.pid"
  setsid nohup dockerd --host "$SOAK_HOST" --data-root "$DATA" --exec-root "$RUN/exec" \
    --pidfile "$RUN/dockerd.pid" --bridge=none --iptables=false --ip-masq=false \
    --ip-forward=false --max-download-attempts 1 \
    >>"$STATE/dockerd.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 60))
  until soak_engine_up; do
    ((SECONDS < deadline)) || { tail -20 "$STATE/dockerd.log" >&2; die "soak dockerd did not answer within 60s"; }
    sleep 0.2
  done
  # --bridge=none deleted the main engine's docker0.
  restore_default_bridge
}

start_registry() {
  soak_registry_up && return 0
  mkdir -p "$STATE/registry/data"
  cat >"$STATE/registry/config.yml" <<EOF
# Written by scripts/soak.sh
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REG_PORT
EOF
  setsid nohup docker-registry serve "$STATE/registry/config.yml" \
    >>"$STATE/registry.log" 2>&1 </dev/null &
  echo $! >"$STATE/registry.pid"
  local deadline=$((SECONDS + 30))
  until soak_registry_up; do
    ((SECONDS < deadline)) || { tail -20 "$STATE/registry.log" >&2; die "soak registry did not answer within 30s"; }
    sleep 0.1
  done
}

mount_state() {
  mkdir -p "$STATE_TMPFS"
  mountpoint -q "$STATE_TMPFS" || mount -t tmpfs -o "size=$STATE_TMPFS_SIZE,mode=0755" elt-soak-state "$STATE_TMPFS"
}

load_images() {
  # shellcheck disable=SC1091
  source "$ROOT/.sandbox/testenv/testenv.env"
  local n tag img
  for n in 1 2 3 4; do
    tag=$(eval echo "\$ELT_TEST_TAG_V$n")
    img=$ELT_TEST_IMAGE:$tag
    if ! sdocker image inspect "127.0.0.1:$REG_PORT/$REPO_PATH:$tag" >/dev/null 2>&1; then
      docker save "$img" | sdocker load -q >/dev/null
      sdocker tag "$img" "127.0.0.1:$REG_PORT/$REPO_PATH:$tag"
    fi
    sdocker push -q "127.0.0.1:$REG_PORT/$REPO_PATH:$tag" >/dev/null
  done
  sdocker tag "127.0.0.1:$REG_PORT/$REPO_PATH:$ELT_TEST_TAG_V2" "127.0.0.1:$REG_PORT/$REPO_PATH:latest"
  sdocker push -q "127.0.0.1:$REG_PORT/$REPO_PATH:latest" >/dev/null
}

write_env() {
  # shellcheck disable=SC1091
  source "$ROOT/.sandbox/testenv/testenv.env"
  {
    echo "# Written by scripts/soak.sh up"
    echo "ELT_SOAK_DIR=$STATE"
    echo "ELT_SOAK_RUN=$RUN"
    echo "ELT_SOAK_DOCKER_HOST=$SOAK_HOST"
    echo "ELT_SOAK_REGISTRY_PORT=$REG_PORT"
    echo "ELT_SOAK_STATE_TMPFS=$STATE_TMPFS"
    echo "ELT_SOAK_REPO_PATH=$REPO_PATH"
    local n
    for n in 1 2 3 4; do
      echo "ELT_SOAK_TAG_V$n=$(eval echo "\$ELT_TEST_TAG_V$n")"
      echo "ELT_SOAK_BEHAVIOUR_V$n=$(eval echo "\$ELT_TEST_BEHAVIOUR_V$n")"
    done
  } >"$STATE/soak.env.tmp"
  mv "$STATE/soak.env.tmp" "$STATE/soak.env"
}

cmd_up() {
  local t0=$SECONDS
  mkdir -p "$STATE"
  "$ROOT/scripts/testenv.sh" up >/dev/null
  start_engine
  start_registry
  mount_state
  load_images
  write_env
  say "up in $((SECONDS - t0))s (engine $SOAK_HOST, registry 127.0.0.1:$REG_PORT, env $STATE/soak.env)"
}

cmd_down() {
  if soak_engine_up; then
    local ids
    ids=$(sdocker ps -aq --filter label=com.docker.compose.project 2>/dev/null || true)
    [[ -z $ids ]] || sdocker rm -f $ids >/dev/null 2>&1 || true
  fi
  stop_pidfile "$STATE/registry.pid" docker-registry "soak registry" 15
  stop_pidfile "$RUN/dockerd.pid" dockerd "soak dockerd" 15
  if mountpoint -q "$STATE_TMPFS" 2>/dev/null; then umount "$STATE_TMPFS" || umount -l "$STATE_TMPFS"; fi
  say "down"
}

cmd_status() {
  if soak_engine_up; then say "engine: up ($SOAK_HOST)"; else say "engine: down"; fi
  if soak_registry_up; then say "registry: up (127.0.0.1:$REG_PORT)"; else say "registry: down"; fi
  mountpoint -q "$STATE_TMPFS" 2>/dev/null && say "state tmpfs: $STATE_TMPFS" || say "state tmpfs: not mounted"
  return 0
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  start-engine) start_engine ;;
  start-registry) start_registry ;;
  bench)
    shift
    minutes=${1:-60}
    [[ $# -gt 0 ]] && shift
    cmd_up
    trap cmd_down EXIT
    [[ -x $ROOT/target/debug/elt-console ]] || (cd "$ROOT" && cargo build --locked --bin elt-console)
    rc=0
    python3 "$ROOT/scripts/soak/soak.py" --env "$STATE/soak.env" --round-robin --cycles 720 \
      --until-each 30 --max-minutes "$minutes" --report "$STATE/bench-report.json" "$@" || rc=$?
    say "figures: $STATE/bench-report.json; cycle logs: ${ELT_SOAK_DIR:-$ROOT/.sandbox/soak}/logs"
    exit $rc
    ;;
  run)
    shift
    [[ -f $STATE/soak.env ]] || die "run 'scripts/soak.sh up' first"
    exec python3 "$ROOT/scripts/soak/soak.py" --env "$STATE/soak.env" "$@"
    ;;
  *)
    echo "usage: $0 up|run|down|status" >&2
    exit 2
    ;;
esac
