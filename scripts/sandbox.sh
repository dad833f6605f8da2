#!/usr/bin/env bash
# Run elt-console against a local sandbox deployment of the (stub) English Listening Trainer.
#
#   scripts/sandbox.sh [console args...]   bring everything up, then run the console
#   scripts/sandbox.sh --no-run            bring everything up, don't launch the console
#   scripts/sandbox.sh down [--purge]      stop the sandbox containers and the GitHub stand-in;
#                                          --purge also deletes the data volume, .env, state, config
#
# Pieces: scripts/testenv.sh up (dockerd, registry on 127.0.0.1:5000, stub images), compose
# project `elt-sandbox` from testenv/sandbox/docker-compose.yml (app on 127.0.0.1:3000, tts on
# 127.0.0.1:3001, worker, redis-stub; `migrate` in profile migrate), the GitHub stand-in on
# 127.0.0.1:8787, and .sandbox/config.toml for the console.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SANDBOX=$ROOT/.sandbox
DEPLOY=$SANDBOX/deploy
RUN=$SANDBOX/run
PROJECT=elt-sandbox
STANDIN_PORT=8787
TESTENV_DIR=${ELT_TESTENV_DIR:-$SANDBOX/testenv}
HEALTH_TIMEOUT=${ELT_SANDBOX_HEALTH_TIMEOUT:-90}

say() { printf 'sandbox: %s\n' "$*"; }
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
  setsid nohup python3 "$ROOT/scripts/github-standin.py" "${args[@]}" >"$RUN/standin.log" 2>&1 </dev/null &
  echo $! >"$RUN/standin.pid"
  local deadline=$((SECONDS + 15))
  until [[ -s $RUN/standin.port ]]; do
    if ! standin_alive; then
      tail -20 "$RUN/standin.log" >&2
      die "GitHub stand-in exited"
    fi
    ((SECONDS < deadline)) || die "GitHub stand-in did not start within 15s"
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
esac

cmd_up
cd "$ROOT"
exec cargo run --release --quiet -- --config .sandbox/config.toml "$@"
