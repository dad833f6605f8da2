#!/usr/bin/env bash
# Scenario multi-service-traefik: assets/examples/multi-service-traefik as a sandbox with real
# parts (the test environment's engine and registry, the compose CLI), an API and a worker built
# as two images (stub images FROM scratch, one repository each) behind the Traefik stand-in.
#
# Sourced by `scripts/sandbox.sh --scenario multi-service-traefik` (it defines scenario_up and
# scenario_down), or run on its own, as tests/scenario_traefik.rs does:
#
#   scripts/scenarios/multi-service-traefik/scenario.sh up | down [--purge]
#
# Settings (environment): ELT_SCENARIO_DIR (default .sandbox/scenarios/multi-service-traefik),
# ELT_SCENARIO_PROJECT (compose project, default shop), ELT_SCENARIO_NAMESPACE (registry
# namespace, default acme), ELT_SCENARIO_PORT (the proxy's web port, default 18080) and
# ELT_SCENARIO_PING_PORT (its ping port, default the web port + 1).
#
# Releases r1..r4 of each image, tagged main-<sha> and main-<sha7> (latest = r1): all good,
# except the API's r3, whose health answers 503 (a bad image to roll back from).

# sandbox.sh defines these; on its own the script brings its own.
declare -F say >/dev/null || say() { printf 'scenario: %s\n' "$*" >&2; }
declare -F die >/dev/null || die() {
  printf 'scenario: error: %s\n' "$*" >&2
  exit 1
}
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
  SC_NAME=multi-service-traefik
  SC_SRC=$ROOT/scripts/scenarios/$SC_NAME
  SC_DIR=${ELT_SCENARIO_DIR:-$ROOT/.sandbox/scenarios/$SC_NAME}
  SC_DEPLOY=$SC_DIR/deploy
  SC_STATE=$SC_DIR/state
  SC_CONFIG=$SC_DIR/config.toml
  tr_env=${ELT_TESTENV_DIR:-$ROOT/.sandbox/testenv}/testenv.env
  [[ -f $tr_env ]] || die "$tr_env is missing: run scripts/testenv.sh up"
  # shellcheck source=/dev/null
  source "$tr_env"
  read -ra COMPOSE <<<"${ELT_TEST_COMPOSE:-docker-compose}"
fi

# shellcheck source=../lib.sh
source "$SC_SRC/../lib.sh"
SC_PROJECT=${ELT_SCENARIO_PROJECT:-shop}
TR_PORT=${ELT_SCENARIO_PORT:-18080}
TR_PING_PORT=${ELT_SCENARIO_PING_PORT:-$((TR_PORT + 1))}
TR_API_REPO=$SC_REGISTRY/$SC_NAMESPACE/shop-api
TR_WORKER_REPO=$SC_REGISTRY/$SC_NAMESPACE/shop-worker
# release behaviour-of-api behaviour-of-worker created
TR_RELEASES=(
  "r1 good good 2026-11-10T08:00:00Z"
  "r2 good good 2026-11-11T08:00:00Z"
  "r3 bad good 2026-11-12T08:00:00Z"
  "r4 good good 2026-11-13T08:00:00Z"
)

# Every value that reaches a file, a tag or a compose command is checked first (the
# namespace by lib.sh).
[[ $SC_PROJECT =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die "ELT_SCENARIO_PROJECT must be lowercase letters, digits, '-', '_'"
[[ $TR_PORT =~ ^[0-9]{2,5}$ && $TR_PING_PORT =~ ^[0-9]{2,5}$ ]] || die "ELT_SCENARIO_PORT/ELT_SCENARIO_PING_PORT must be port numbers"

tr_sha() { sc_sha "shop-$1"; }

tr_recipe() {
  {
    printf '%s\n' "${TR_RELEASES[@]}" "$TR_API_REPO" "$TR_WORKER_REPO" "$ELT_TEST_TAG_V1"
    docker image inspect -f '{{.Id}}' "$ELT_TEST_IMAGE:$ELT_TEST_TAG_V1"
    sed -n '/^tr_images()/,/^}/p' "${BASH_SOURCE[0]}"
  } | sha256sum | cut -d' ' -f1
}

# One image per service and release: the stub app (testenv's v1 image) with the release's
# version, commit and behaviour baked in, so each has its own digest and revision label.
tr_images() {
  local entry r api worker created sha repo behaviour ctx=$SC_DIR/build
  if [[ -f $SC_DIR/images.stamp && $(cat "$SC_DIR/images.stamp") == "$(tr_recipe)" ]] &&
    sc_registry_tags "$SC_NAMESPACE/shop-api" | grep -qx latest &&
    sc_registry_tags "$SC_NAMESPACE/shop-worker" | grep -qx latest; then
    return 0
  fi
  say "building the API and worker images (FROM the stub app) and pushing $TR_API_REPO, $TR_WORKER_REPO"
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $ELT_TEST_IMAGE:$ELT_TEST_TAG_V1
ARG SERVICE
ARG VERSION
ARG COMMIT
ARG BEHAVIOUR
ARG CREATED
ENV STUB_VERSION=\${VERSION} STUB_COMMIT=\${COMMIT} STUB_BEHAVIOUR=\${BEHAVIOUR}
LABEL org.opencontainers.image.revision=\${COMMIT} \\
      org.opencontainers.image.created=\${CREATED} \\
      org.opencontainers.image.version=\${VERSION} \\
      org.opencontainers.image.source=https://github.com/acme/shop \\
      org.opencontainers.image.title="shop-\${SERVICE} (stub)"
DOCKERFILE
  for entry in "${TR_RELEASES[@]}"; do
    read -r r api worker created <<<"$entry"
    sha=$(tr_sha "$r")
    for svc in api worker; do
      if [[ $svc == api ]]; then repo=$TR_API_REPO behaviour=$api; else repo=$TR_WORKER_REPO behaviour=$worker; fi
      sc_build -t "$repo:main-$sha" -t "$repo:main-${sha:0:7}" \
        --build-arg "SERVICE=$svc" --build-arg "VERSION=$r" --build-arg "COMMIT=$sha" \
        --build-arg "BEHAVIOUR=$behaviour" --build-arg "CREATED=$created" "$ctx"
      [[ $r == r1 ]] && docker tag "$repo:main-$sha" "$repo:latest"
      local t
      for t in "main-$sha" "main-${sha:0:7}" $([[ $r == r1 ]] && echo latest); do
        sc_push "$repo:$t"
      done
    done
  done
  tr_recipe >"$SC_DIR/images.stamp"
}

scenario_up() {
  [[ -n ${ELT_TEST_PROXY_IMAGE:-} ]] || die "ELT_TEST_PROXY_IMAGE is not set: run scripts/testenv.sh up (it builds the Traefik stand-in)"
  mkdir -p "$SC_DIR" "$SC_DEPLOY" "$SC_STATE"
  tr_images
  cp "$SC_SRC/docker-compose.yml" "$SC_DEPLOY/docker-compose.yml"
  local first
  first=$(tr_sha r1)
  if ! grep -qs '^API_IMAGE=' "$SC_DEPLOY/.env"; then
    printf '# Sandbox shop (multi-service-traefik). The console pins API_IMAGE and WORKER_IMAGE.\nPROXY_IMAGE=%s\nSHOP_PORT=%s\nSHOP_PING_PORT=%s\nAPI_IMAGE=%s\nWORKER_IMAGE=%s\n' \
      "$ELT_TEST_PROXY_IMAGE" "$TR_PORT" "$TR_PING_PORT" "$TR_API_REPO:main-$first" "$TR_WORKER_REPO:main-$first" \
      >"$SC_DEPLOY/.env"
  fi
  say "starting compose project $SC_PROJECT (proxy on 127.0.0.1:$TR_PORT, ping on 127.0.0.1:$TR_PING_PORT)"
  sc_compose up -d 2>&1 | sed 's/^/  /'
  local s
  # Each has a healthcheck (the stub images'), so "up" means healthy.
  for s in traefik api worker; do
    sc_wait "$s to be healthy" 60 sc_service_up "$s"
  done
  cat >"$SC_CONFIG" <<CONF
# Written by scripts/scenarios/multi-service-traefik/scenario.sh (see
# assets/examples/multi-service-traefik). worker is listed first on purpose: compose still
# recreates api before it (depends_on), whatever the order here.

$(sc_config_deployment)

[[deployment.services]]
name = "worker"
image = "$TR_WORKER_REPO"
image_var = "WORKER_IMAGE"
commit_tags = ["main-{sha}"]
follow = "latest"

[[deployment.services]]
name = "api"
image = "$TR_API_REPO"
image_var = "API_IMAGE"
commit_tags = ["main-{sha}"]
follow = "latest"
migrate_service = "api-migrate"

# Both through the proxy, and the proxy's own ping.
[[health]]
name = "api"
url = "http://127.0.0.1:$TR_PORT/api/health"
timeout_ms = 2000

[[health]]
name = "worker"
url = "http://127.0.0.1:$TR_PORT/worker/api/health"
timeout_ms = 2000

[[health]]
name = "traefik"
url = "http://127.0.0.1:$TR_PING_PORT/ping"
timeout_ms = 2000

[deploy]
health_timeout_s = ${ELT_SCENARIO_HEALTH_TIMEOUT:-30}
health_interval_ms = 250
health_successes = 2
compose_command = "${COMPOSE[*]}"

$(sc_config_registry)

$(sc_config_github acme/shop build-images.yml)
CONF
  {
    echo "# Written by scripts/scenarios/multi-service-traefik/scenario.sh"
    echo "SC_PROJECT=$SC_PROJECT"
    echo "SC_CONFIG=$SC_CONFIG"
    echo "SC_DEPLOY=$SC_DEPLOY"
    echo "API_REPO=$TR_API_REPO"
    echo "WORKER_REPO=$TR_WORKER_REPO"
    echo "SHOP_PORT=$TR_PORT"
    echo "SHOP_PING_PORT=$TR_PING_PORT"
    local entry r
    for entry in "${TR_RELEASES[@]}"; do
      read -r r _ _ _ <<<"$entry"
      echo "TAG_${r^^}=main-$(tr_sha "$r")"
    done
  } >"$SC_DIR/scenario.env"
}

scenario_down() {
  [[ -f $SC_DEPLOY/docker-compose.yml ]] || return 0
  local args=(down --remove-orphans -t 2)
  [[ ${1:-} == --purge ]] && args+=(--volumes)
  say "stopping compose project $SC_PROJECT"
  if [[ -f $SC_DEPLOY/.env ]]; then
    sc_compose "${args[@]}" 2>&1 | sed 's/^/  /'
  else
    PROXY_IMAGE=unused SHOP_PORT=1 SHOP_PING_PORT=2 API_IMAGE=unused WORKER_IMAGE=unused \
      sc_compose "${args[@]}" 2>&1 | sed 's/^/  /'
  fi
}

# Run on its own (not sourced by sandbox.sh).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    up) scenario_up ;;
    down)
      shift
      scenario_down "$@"
      if [[ ${1:-} == --purge ]]; then rm -rf "$SC_DIR"; fi
      ;;
    *) die "usage: $0 up | down [--purge]" ;;
  esac
fi
