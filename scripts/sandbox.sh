#!/usr/bin/env bash
# Run elt-console against a local sandbox deployment of the (stub) English Listening Trainer.
#
#   scripts/sandbox.sh [console args...]   bring everything up, then run the console
#   scripts/sandbox.sh cli COMMAND...      bring everything up, then run one headless command
#                                          against the sandbox, e.g. `cli status --json`,
#                                          `cli history`, `cli rollback --previous --yes`,
#                                          `cli lock status` (setup messages go to stderr)
#   scripts/sandbox.sh --no-run            bring everything up, don't launch the console
#   scripts/sandbox.sh down [--purge]      stop the sandbox containers and the GitHub stand-in;
#                                          --purge also deletes the data volume, .env, state, config
#   scripts/sandbox.sh --scenario NAME ... any of the above for another deployment kind instead of
#                                          ELT (default: elt). NAME is a folder of
#                                          scripts/scenarios/ (see scripts/scenarios/README.md):
#                                          dockerhub-bot, ghcr-app-postgres-redis,
#                                          multi-service-traefik
#
# The console is built with `cargo build --release` on first use (several minutes; cargo shows
# its progress); ELT_SANDBOX_BIN=/path/to/elt-console uses that binary instead.
#
# Pieces: scripts/testenv.sh up (dockerd, registry on 127.0.0.1:5000, stub images), compose
# project `elt-sandbox` from testenv/sandbox/docker-compose.yml (app on a loopback port Docker
# picks, behind nginx on 127.0.0.1:3000; tts on 127.0.0.1:3001, worker, redis-stub; `migrate` in
# profile migrate), the GitHub stand-in on 127.0.0.1:8787, and .sandbox/config.toml for the
# console, whose deploys are start-first through that nginx ([proxy], docs/zero-downtime.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCENARIO=elt
if [[ ${1:-} == --scenario ]]; then
  SCENARIO=${2:-}
  shift 2 || true
fi
SANDBOX=$ROOT/.sandbox
DEPLOY=$SANDBOX/deploy
RUN=$SANDBOX/run
PROJECT=elt-sandbox
STANDIN_PORT=8787
TESTENV_DIR=${ELT_TESTENV_DIR:-$SANDBOX/testenv}
HEALTH_TIMEOUT=${ELT_SANDBOX_HEALTH_TIMEOUT:-90}

say() { printf 'sandbox: %s\n' "$*" >&2; }
die() { printf 'sandbox: error: %s\n' "$*" >&2; exit 1; }

# The variables the compose file reads come from .env, never from the caller's shell.
unset IMAGE_TAG TTS_IMAGE_TAG BUSYBOX_IMAGE STUB_READY_AFTER STUB_MIGRATE_FAIL

compose_bin() {
  local c=${ELT_TEST_COMPOSE:-}
  if [[ -z $c ]]; then
    if docker compose version >/dev/null 2>&1; then c="docker compose"; else c=docker-compose; fi
  fi
  read -ra COMPOSE <<<"$c"
}

compose() {
  (cd "$DEPLOY" && "${COMPOSE[@]}" -p "$PROJECT" -f docker-compose.gpu.yml "$@")
}

standin_alive() {
  local pid
  [[ -s $RUN/standin.pid ]] || return 1
  pid=$(cat "$RUN/standin.pid")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q github-standin
}

# The stand-in's own control endpoint answers: it is listening and serving.
standin_answers() {
  curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/_standin/runs" 2>/dev/null
}

# A process that exists and has not exited (a zombie has exited but is not reaped yet).
process_running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

stop_standin() {
  if standin_alive; then
    local pid i
    pid=$(cat "$RUN/standin.pid")
    say "stopping GitHub stand-in (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$RUN/standin.pid" "$RUN/standin.port"
}

NGINX_DIR=$RUN/nginx

nginx_cmd() {
  local bin
  bin=$(command -v nginx || echo /usr/sbin/nginx)
  "$bin" -p "$NGINX_DIR" -e "$NGINX_DIR/logs/error.log" -c "$NGINX_DIR/nginx.conf" "$@"
}

nginx_alive() {
  [[ -s $NGINX_DIR/nginx.pid ]] && kill -0 "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null
}

# nginx on 127.0.0.1:3000 in front of the app. The console owns the upstream file during
# deploys (it points it at the new container); at `up` it names the app container running now.
start_proxy() {
  local id addr
  mkdir -p "$NGINX_DIR/logs"
  id=$(compose ps -q app 2>/dev/null | head -1) || true
  [[ -n $id ]] || die "no app container to put behind nginx"
  addr=$(docker port "$id" 3000/tcp 2>/dev/null | head -1)
  [[ $addr =~ ^127\.0\.0\.1:[0-9]+$ ]] || die "the app container publishes no loopback port for 3000 (got '$addr')"
  printf '# Written by elt-console at each start-first deploy; edits here are replaced.\nupstream elt_app {\n    server %s;\n}\n' \
    "$addr" >"$NGINX_DIR/upstream.conf.tmp"
  mv "$NGINX_DIR/upstream.conf.tmp" "$NGINX_DIR/upstream.conf"
  cat >"$NGINX_DIR/nginx.conf" <<EOF
# Written by scripts/sandbox.sh: the sandbox's reverse proxy (loopback only).
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
worker_processes 1;
events { worker_connections 512; }
http {
  access_log off;
  include $NGINX_DIR/upstream.conf;
  server {
    listen 127.0.0.1:3000;
    location / { proxy_pass http://elt_app; }
  }
}
EOF
  if nginx_alive; then
    nginx_cmd -s reload
  else
    say "starting nginx on 127.0.0.1:3000 in front of the app (log: $NGINX_DIR/logs/error.log)"
    nginx_cmd || die "nginx did not start (see $NGINX_DIR/logs/error.log)"
  fi
}

stop_proxy() {
  nginx_alive || return 0
  local pid i
  pid=$(cat "$NGINX_DIR/nginx.pid")
  say "stopping nginx (pid $pid)"
  nginx_cmd -s quit 2>/dev/null || kill "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

cmd_down() {
  local purge=0
  [[ ${1:-} == --purge ]] && purge=1
  compose_bin
  if [[ -f $DEPLOY/docker-compose.gpu.yml ]] && docker info >/dev/null 2>&1; then
    say "stopping compose project $PROJECT"
    local args=(down --remove-orphans)
    ((purge)) && args+=(--volumes)
    if grep -qs '^IMAGE_TAG=' "$DEPLOY/.env"; then
      compose "${args[@]}"
    else
      IMAGE_TAG=unused compose "${args[@]}"
    fi
  fi
  stop_standin
  stop_proxy
  if ((purge)); then
    say "purging .env, state and config"
    rm -rf "$DEPLOY" "$SANDBOX/state" "$SANDBOX/config.toml"
  fi
  say "down"
}

start_standin() {
  if standin_alive; then
    say "GitHub stand-in already running (pid $(cat "$RUN/standin.pid"))"
    return 0
  fi
  if curl -s -m 1 -o /dev/null "http://127.0.0.1:$STANDIN_PORT/" 2>/dev/null; then
    die "port $STANDIN_PORT is taken by another process"
  fi
  rm -f "$RUN/standin.port"
  local args=(--port "$STANDIN_PORT" --port-file "$RUN/standin.port" --latest "$ELT_TEST_SHA_V2")
  local n sha digest
  for n in 1 2 3 4; do
    sha=ELT_TEST_SHA_V$n digest=ELT_TEST_DIGEST_V$n
    args+=(--sha "${!sha}")
    [[ -n ${!digest:-} ]] && args+=(--digest "${!sha}=${!digest}")
  done
  say "starting GitHub stand-in on 127.0.0.1:$STANDIN_PORT (log: $RUN/standin.log)"
  # No `setsid` in front: it may fork, and then $! is a launcher that exits at once. nohup
  # execs python in place, so $! is the stand-in itself; it starts its own session.
  nohup python3 "$ROOT/scripts/github-standin.py" --new-session "${args[@]}" \
    >"$RUN/standin.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$RUN/standin.pid"
  # Ready when it answers, not when a file appears; until then its /proc entry may still be
  # the forked shell's (no `github-standin` in it yet), so only its exit counts as failure.
  local deadline=$((SECONDS + 15))
  until [[ -s $RUN/standin.port ]] && standin_answers; do
    if ! process_running "$pid"; then
      tail -20 "$RUN/standin.log" >&2
      die "GitHub stand-in exited (see $RUN/standin.log)"
    fi
    ((SECONDS < deadline)) || die "GitHub stand-in did not answer within 15s (see $RUN/standin.log)"
    sleep 0.1
  done
}

app_healthy() {
  local id
  id=$(compose ps -q app 2>/dev/null) || return 1
  [[ -n $id ]] || return 1
  [[ $(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id" 2>/dev/null) == healthy ]] || return 1
  curl -fsS -m 2 -o /dev/null http://127.0.0.1:3000/api/health
}

write_config() {
  local f=$SANDBOX/config.toml
  cat >"$f.tmp" <<EOF
# Written by scripts/sandbox.sh: elt-console against the local sandbox (see assets/default-config.toml).

[deployment]
project = "$PROJECT"
compose_file = "$DEPLOY/docker-compose.gpu.yml"
env_file = "$DEPLOY/.env"
state_dir = "$SANDBOX/state"

[[deployment.services]]
name = "app"
image = "$ELT_TEST_IMAGE"
image_var = "IMAGE_TAG"
commit_tags = ["main-{sha}"]
migrate_service = "migrate"
# The stub app uses no GPU, so a second copy always fits: deploys are start-first.
expected_vram_mib = 0

[proxy]
kind = "nginx"
service = "app"
port = 3000
upstream_file = "$NGINX_DIR/upstream.conf"
upstream_name = "elt_app"
nginx_command = "$(command -v nginx || echo /usr/sbin/nginx) -p $NGINX_DIR -e $NGINX_DIR/logs/error.log -c $NGINX_DIR/nginx.conf"

[registry]
plain_http = ["$ELT_TEST_REGISTRY"]
username = ""
password_env = ""
request_timeout_ms = 10000

[[health]]
name = "app"
url = "http://127.0.0.1:3000/api/health"
timeout_ms = 3000

[[health]]
name = "tts"
url = "http://127.0.0.1:3001/api/tts/health"
timeout_ms = 3000

[github]
repo = "arthurlee116/english-listening-trainer"
workflow = "build-and-push.yml"
api_url = "http://127.0.0.1:$STANDIN_PORT"
token_file = ""
runs_per_page = 20
request_timeout_ms = 10000

[gpu]
nvml_library = ""
sample_interval_ms = 1000

[docker]
host = ""
request_timeout_ms = 5000
EOF
  mv "$f.tmp" "$f"
}

cmd_up() {
  "$ROOT/scripts/testenv.sh" up
  # shellcheck source=/dev/null
  source "$TESTENV_DIR/testenv.env"
  compose_bin
  mkdir -p "$DEPLOY" "$RUN" "$SANDBOX/state"
  cp "$ROOT/testenv/sandbox/docker-compose.yml" "$DEPLOY/docker-compose.gpu.yml"
  if ! grep -qs '^IMAGE_TAG=' "$DEPLOY/.env"; then
    # Kept on later runs: the console pins the deployed tag here.
    printf '# Sandbox deployment (scripts/sandbox.sh). elt-console pins IMAGE_TAG on deploy.\nIMAGE_TAG=%s:%s\n' \
      "$ELT_TEST_IMAGE" "$ELT_TEST_TAG_V2" >"$DEPLOY/.env"
  fi
  say "starting compose project $PROJECT ($(grep '^IMAGE_TAG=' "$DEPLOY/.env"))"
  compose up -d 2>&1 | sed 's/^/  /'
  start_proxy
  start_standin
  say "waiting for app to be healthy (up to ${HEALTH_TIMEOUT}s)"
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  until app_healthy; do
    if ((SECONDS >= deadline)); then
      say "WARNING: app not healthy after ${HEALTH_TIMEOUT}s; last logs:"
      compose logs --tail 10 app 2>&1 | sed 's/^/  /' || true
      break
    fi
    sleep 0.5
  done
  app_healthy && say "app healthy: $(curl -s -m 2 http://127.0.0.1:3000/api/health)"
  write_config
  say "config: $SANDBOX/config.toml"
}

# The console binary: ELT_SANDBOX_BIN, else a release build (cargo's progress shown: the
# first build compiles every dependency, several minutes).
console_bin() {
  if [[ -n ${ELT_SANDBOX_BIN:-} ]]; then
    [[ -x $ELT_SANDBOX_BIN ]] || die "ELT_SANDBOX_BIN=$ELT_SANDBOX_BIN is not an executable"
    CONSOLE=$ELT_SANDBOX_BIN
    return
  fi
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs), or set ELT_SANDBOX_BIN"
  if [[ ! -x $ROOT/target/release/elt-console ]]; then
    say "building elt-console (release); the first build compiles for several minutes"
  fi
  (cd "$ROOT" && cargo build --release --locked --bin elt-console) >&2 || die "cargo build failed"
  CONSOLE=$ROOT/target/release/elt-console
}

# Another deployment kind: its scenario file defines scenario_up (images, compose project,
# config at $SC_CONFIG) and scenario_down [--purge]; the commands below are the same.
if [[ $SCENARIO != elt ]]; then
  [[ $SCENARIO =~ ^[a-z0-9][a-z0-9-]*$ && -f $ROOT/scripts/scenarios/$SCENARIO/scenario.sh ]] ||
    die "unknown scenario '$SCENARIO' (known: elt $(cd "$ROOT/scripts/scenarios" && ls -d -- */ 2>/dev/null | tr -d / | tr '\n' ' '))"
  SC_NAME=$SCENARIO
  SC_SRC=$ROOT/scripts/scenarios/$SCENARIO
  # Tests point these elsewhere, so a test never touches an operator's scenario sandbox.
  SC_DIR=${ELT_SCENARIO_DIR:-$SANDBOX/scenarios/$SCENARIO}
  SC_DEPLOY=$SC_DIR/deploy
  SC_STATE=$SC_DIR/state
  SC_CONFIG=$SC_DIR/config.toml
  # shellcheck source=/dev/null
  source "$SC_SRC/scenario.sh"
  scenario_cmd_up() {
    "$ROOT/scripts/testenv.sh" up
    # shellcheck source=/dev/null
    source "$TESTENV_DIR/testenv.env"
    compose_bin
    mkdir -p "$SC_DEPLOY" "$SC_STATE"
    scenario_up
    say "config: $SC_CONFIG"
  }
  case ${1:-} in
    down)
      shift
      compose_bin
      scenario_down "$@"
      if [[ ${1:-} == --purge ]]; then
        rm -rf "$SC_DIR"
      fi
      say "down"
      exit 0
      ;;
    --no-run)
      scenario_cmd_up
      exit 0
      ;;
    cli)
      shift
      (($#)) || die "usage: scripts/sandbox.sh --scenario $SCENARIO cli COMMAND [ARGS...]"
      scenario_cmd_up >&2
      console_bin
      cd "$SC_DEPLOY"
      exec "$CONSOLE" --config "$SC_CONFIG" "$@"
      ;;
  esac
  scenario_cmd_up
  console_bin
  cd "$SC_DEPLOY"
  exec "$CONSOLE" --config "$SC_CONFIG" "$@"
fi

case ${1:-} in
  down)
    shift
    cmd_down "$@"
    exit 0
    ;;
  --no-run)
    cmd_up
    exit 0
    ;;
  cli)
    shift
    (($#)) || die "usage: scripts/sandbox.sh cli COMMAND [ARGS...]   e.g. cli status --json"
    # Only the command's own output on stdout, so `cli status --json | jq` works.
    cmd_up >&2
    console_bin
    cd "$ROOT"
    exec "$CONSOLE" --config "$SANDBOX/config.toml" "$@"
    ;;
esac

cmd_up
console_bin
cd "$ROOT"
exec "$CONSOLE" --config "$SANDBOX/config.toml" "$@"
