# Scenario dockerhub-bot (sourced by scripts/sandbox.sh; see ../README.md): the Telegram bot of
# assets/examples/dockerhub-bot. Its repository has a Docker Hub name (NAMESPACE/chat-bot, i.e.
# docker.io/NAMESPACE/chat-bot); the console's `registry.mirrors` sends docker.io to the local
# registry, which holds it as 127.0.0.1:5000/NAMESPACE/chat-bot.
# shellcheck source=../lib.sh
source "$SC_SRC/../lib.sh"
SC_PROJECT=${ELT_SCENARIO_PROJECT:-chat-bot}
BOT_REPO=$SC_NAMESPACE/chat-bot
BOT_MIRROR=$SC_REGISTRY/$BOT_REPO
# version behaviour created; `latest` is b2 at first (b4 is a later build a test moves it to).
BOT_VERSIONS=(
  "b1 good 2026-11-01T08:00:00Z"
  "b2 good 2026-11-02T08:00:00Z"
  "b3 bad 2026-11-03T08:00:00Z"
  "b4 good 2026-11-04T08:00:00Z"
)
# Never a real token: the tests check it is never printed.
BOT_TOKEN=123456:sandbox-not-a-real-token

bot_recipe() {
  { printf '%s\n' "${BOT_VERSIONS[@]}" "$BOT_REPO"; cat "$SC_SRC/chat-bot" "$SC_SRC/Dockerfile"; sha256sum /bin/busybox; } |
    sha256sum | cut -d' ' -f1
}

bot_images() {
  local have entry v behaviour created sha ctx=$SC_DIR/build
  have=$(sc_registry_tags "$BOT_REPO")
  if [[ -f $SC_DIR/images.stamp && $(cat "$SC_DIR/images.stamp") == "$(bot_recipe)" ]] &&
    grep -qx "$(sc_sha chat-bot-b4)" <<<"$have" &&
    docker image inspect "$BOT_MIRROR:$(sc_sha chat-bot-b1)" >/dev/null 2>&1; then
    return 0
  fi
  say "building stub bot images (FROM scratch) and pushing $BOT_MIRROR"
  sc_rootfs "$ctx/rootfs"
  cp "$SC_SRC/chat-bot" "$ctx/rootfs/bin/chat-bot"
  cp "$SC_SRC/Dockerfile" "$ctx/Dockerfile"
  for entry in "${BOT_VERSIONS[@]}"; do
    read -r v behaviour created <<<"$entry"
    sha=$(sc_sha "chat-bot-$v")
    sc_build -t "$BOT_MIRROR:$sha" --build-arg "VERSION=$v" --build-arg "COMMIT=$sha" \
      --build-arg "BEHAVIOUR=$behaviour" --build-arg "CREATED=$created" "$ctx"
    sc_push "$BOT_MIRROR:$sha"
  done
  bot_recipe >"$SC_DIR/images.stamp"
}

# `latest` names b2 at the start (a test moves it to b4, as CI's next build would).
bot_reset_latest() {
  docker tag "$BOT_MIRROR:$(sc_sha chat-bot-b2)" "$BOT_MIRROR:latest"
  sc_push "$BOT_MIRROR:latest"
}

scenario_up() {
  bot_images
  bot_reset_latest
  cp "$SC_SRC/docker-compose.yml" "$SC_DEPLOY/docker-compose.yml"
  local first
  first=$(sc_sha chat-bot-b1)
  if ! grep -qs '^BOT_IMAGE=' "$SC_DEPLOY/.env"; then
    # What `docker pull acme/chat-bot:<sha>` through a Docker Hub mirror leaves: the image under
    # its Docker Hub name. The console pins BOT_IMAGE on each deploy.
    docker tag "$BOT_MIRROR:$first" "$BOT_REPO:$first"
    printf '# Sandbox bot (scripts/sandbox.sh --scenario dockerhub-bot).\nTELEGRAM_BOT_TOKEN=%s\nBOT_IMAGE=%s:%s\n' \
      "$BOT_TOKEN" "$BOT_REPO" "$first" >"$SC_DEPLOY/.env"
  fi
  say "starting compose project $SC_PROJECT ($(grep '^BOT_IMAGE=' "$SC_DEPLOY/.env"))"
  sc_compose up -d 2>&1 | sed 's/^/  /'
  sc_wait "the bot to run" 30 sc_service_up bot
  cat >"$SC_CONFIG" <<CONF
# Written by scripts/sandbox.sh --scenario dockerhub-bot (see assets/examples/dockerhub-bot).
health = []

$(sc_config_deployment)

[[deployment.services]]
name = "bot"
image = "$BOT_REPO"
image_var = "BOT_IMAGE"
commit_tags = ["{sha}"]
follow = "latest"
# No healthcheck in the image: healthy = running ${ELT_SCENARIO_READY_S:-5}s without a restart.
ready = "running:${ELT_SCENARIO_READY_S:-5}s"

[deploy]
health_timeout_s = 60

$(sc_config_registry)
# Docker Hub through a mirror: docker.io/$BOT_REPO is read and pulled from $SC_REGISTRY.
mirrors = ["docker.io=$SC_REGISTRY"]

$(sc_config_github acme/chat-bot docker-publish.yml)
CONF
  {
    echo "# Written by scripts/sandbox.sh --scenario dockerhub-bot"
    echo "SC_PROJECT=$SC_PROJECT"
    echo "BOT_REPO=$BOT_REPO"
    echo "BOT_MIRROR=$BOT_MIRROR"
    echo "BOT_TOKEN=$BOT_TOKEN"
    local n=0 entry v
    for entry in "${BOT_VERSIONS[@]}"; do
      n=$((n + 1))
      read -r v _ _ <<<"$entry"
      echo "BOT_SHA_V$n=$(sc_sha "chat-bot-$v")"
    done
  } >"$SC_DIR/scenario.env"
}

scenario_down() {
  [[ -f $SC_DEPLOY/docker-compose.yml ]] || return 0
  local args=(down --remove-orphans)
  [[ ${1:-} == --purge ]] && args+=(--volumes)
  say "stopping compose project $SC_PROJECT"
  BOT_IMAGE=${BOT_IMAGE:-unused} TELEGRAM_BOT_TOKEN=unused sc_compose "${args[@]}" 2>&1 | sed 's/^/  /'
}
