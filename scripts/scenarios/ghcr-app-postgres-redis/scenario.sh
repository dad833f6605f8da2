# Scenario ghcr-app-postgres-redis (sourced by scripts/sandbox.sh; see ../README.md): the
# project-manager app of assets/examples/ghcr-app-postgres-redis. CI publishes sha-<short sha>
# for every build and vX.Y.Z for releases, never `latest`; the console follows
# `follow = "semver"` (ELT_SCENARIO_FOLLOW to change). Only the app moves; the postgres and redis
# stand-ins keep running with their volumes. The migration (`migrate`, like
# `alembic upgrade head`) writes the schema version into the database volume.
# shellcheck source=../lib.sh
source "$SC_SRC/../lib.sh"
SC_PROJECT=${ELT_SCENARIO_PROJECT:-notes}
NOTES_PORT=${ELT_SCENARIO_PORT:-18000}
[[ $NOTES_PORT =~ ^[0-9]+$ ]] || die "ELT_SCENARIO_PORT must be a port number"
NOTES_FOLLOW=${ELT_SCENARIO_FOLLOW:-semver}
[[ $NOTES_FOLLOW =~ ^(latest|semver|semver-prerelease|newest:[a-z0-9{}._-]+)$ ]] || die "ELT_SCENARIO_FOLLOW: not a follow rule"
NOTES_REPO=$SC_REGISTRY/$SC_NAMESPACE/notes
DB_STUB=$SC_REGISTRY/$SC_NAMESPACE/notes-db-stub:latest
# n version-tag behaviour schema created. "-" : a commit build only (sha-<sha>, no release).
# n5 is built but not published: a test publishes it to see `watch` pick it up.
NOTES_VERSIONS=(
  "1 v1.2.0 good 1 2026-11-01T08:00:00Z"
  "2 v1.3.0 good 2 2026-11-05T08:00:00Z"
  "3 - bad 2 2026-11-07T08:00:00Z"
  "4 - badmigrate 3 2026-11-08T08:00:00Z"
  "5 v1.4.0 good 3 2026-11-10T08:00:00Z"
)
NOTES_UNPUBLISHED=5
# Where the unpublished build waits (local only): retention of the app's repository never
# removes it, and publishing is `docker tag` + `docker push` (see notes_publish).
NOTES_STAGING=$SC_REGISTRY/$SC_NAMESPACE/notes-staging

notes_sha() { sc_sha "notes-$1"; }
# The tags of build n: sha-<7 hex>, and its release tag if any.
notes_tags() {
  local entry n v
  for entry in "${NOTES_VERSIONS[@]}"; do
    read -r n v _ <<<"$entry"
    [[ $n == "$1" ]] || continue
    echo "sha-$(notes_sha "$n" | cut -c1-7)"
    [[ $v == - ]] || echo "$v"
  done
}

notes_recipe() {
  { printf '%s\n' "${NOTES_VERSIONS[@]}" "$NOTES_REPO"
    cat "$SC_SRC/notes-app" "$SC_SRC/db-stub" "$SC_SRC/Dockerfile.app" "$SC_SRC/Dockerfile.db"
    sha256sum /bin/busybox; } | sha256sum | cut -d' ' -f1
}

notes_images() {
  local entry n v behaviour schema created sha t ctx=$SC_DIR/build
  if [[ -f $SC_DIR/images.stamp && $(cat "$SC_DIR/images.stamp") == "$(notes_recipe)" ]] &&
    sc_registry_tags "$SC_NAMESPACE/notes" | grep -qx v1.3.0 &&
    docker image inspect "$NOTES_STAGING:v1.4.0" "$DB_STUB" >/dev/null 2>&1; then
    return 0
  fi
  say "building stub app and database images (FROM scratch) and pushing $NOTES_REPO"
  sc_rootfs "$ctx/rootfs"
  cp "$SC_SRC/notes-app" "$SC_SRC/db-stub" "$ctx/rootfs/bin/"
  cp "$SC_SRC/Dockerfile.db" "$ctx/Dockerfile.db"
  cp "$SC_SRC/Dockerfile.app" "$ctx/Dockerfile.app"
  sc_build -f "$ctx/Dockerfile.db" -t "$DB_STUB" "$ctx"
  sc_push "$DB_STUB"
  for entry in "${NOTES_VERSIONS[@]}"; do
    read -r n v behaviour schema created <<<"$entry"
    sha=$(notes_sha "$n")
    local tags=() repo=$NOTES_REPO
    [[ $n == "$NOTES_UNPUBLISHED" ]] && repo=$NOTES_STAGING
    for t in $(notes_tags "$n"); do tags+=(-t "$repo:$t"); done
    sc_build -f "$ctx/Dockerfile.app" "${tags[@]}" --build-arg "VERSION=${v/-/sha-${sha:0:7}}" \
      --build-arg "COMMIT=$sha" --build-arg "SCHEMA=$schema" --build-arg "BEHAVIOUR=$behaviour" \
      --build-arg "CREATED=$created" "$ctx"
    [[ $n == "$NOTES_UNPUBLISHED" ]] && continue
    for t in $(notes_tags "$n"); do sc_push "$NOTES_REPO:$t"; done
  done
  notes_recipe >"$SC_DIR/images.stamp"
}

# Take the unpublished build out of the registry again (a test published it): the registry
# deletes a manifest by digest, with every tag that names it.
notes_unpublish() {
  local t digest
  for t in $(notes_tags "$NOTES_UNPUBLISHED"); do
    digest=$(curl -fsS -m 5 -o /dev/null -D - \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      "http://$SC_REGISTRY/v2/$SC_NAMESPACE/notes/manifests/$t" 2>/dev/null |
      tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}') || true
    [[ -n $digest ]] || continue
    say "unpublishing $NOTES_REPO:$t ($digest)"
    curl -fsS -m 5 -X DELETE "http://$SC_REGISTRY/v2/$SC_NAMESPACE/notes/manifests/$digest" >/dev/null ||
      die "cannot delete $NOTES_REPO:$t from the registry"
  done
}

# Publish the unpublished build (what CI's release would do): its tags into the app repository.
notes_publish() {
  local t
  for t in $(notes_tags "$NOTES_UNPUBLISHED"); do
    docker tag "$NOTES_STAGING:$t" "$NOTES_REPO:$t"
    sc_push "$NOTES_REPO:$t"
  done
}

scenario_up() {
  notes_images
  notes_unpublish
  cp "$SC_SRC/docker-compose.yml" "$SC_DEPLOY/docker-compose.yml"
  local fresh=0
  if ! grep -qs '^APP_IMAGE=' "$SC_DEPLOY/.env"; then
    fresh=1
    printf '# Sandbox app (scripts/sandbox.sh --scenario ghcr-app-postgres-redis).\nPOSTGRES_PASSWORD=sandbox-not-a-secret\nDB_STUB_IMAGE=%s\nNOTES_PORT=%s\nAPP_IMAGE=%s:v1.2.0\n' \
      "$DB_STUB" "$NOTES_PORT" "$NOTES_REPO" >"$SC_DEPLOY/.env"
  fi
  say "starting compose project $SC_PROJECT ($(grep '^APP_IMAGE=' "$SC_DEPLOY/.env"))"
  sc_compose up -d postgres redis 2>&1 | sed 's/^/  /'
  sc_wait "postgres (stub) to be healthy" 30 sc_service_up postgres
  if ((fresh)); then
    sc_compose run --rm -T migrate 2>&1 | sed 's/^/  /'
  fi
  sc_compose up -d app 2>&1 | sed 's/^/  /'
  sc_wait "the app to be healthy" 60 sc_service_up app
  cat >"$SC_CONFIG" <<CONF
# Written by scripts/sandbox.sh --scenario ghcr-app-postgres-redis
# (see assets/examples/ghcr-app-postgres-redis).

$(sc_config_deployment)

[[deployment.services]]
name = "app"
image = "$NOTES_REPO"
image_var = "APP_IMAGE"
commit_tags = ["sha-{sha}"]
migrate_service = "migrate"
# No \`latest\` is published: a tag-less deploy and \`watch\` follow this rule.
follow = "$NOTES_FOLLOW"

[[health]]
name = "app"
url = "http://127.0.0.1:$NOTES_PORT/healthz"
timeout_ms = 2000

[deploy]
health_timeout_s = ${ELT_SCENARIO_HEALTH_TIMEOUT_S:-20}

$(sc_config_registry)

$(sc_config_github acme/notes docker.yml)
CONF
  {
    echo "# Written by scripts/sandbox.sh --scenario ghcr-app-postgres-redis"
    echo "SC_PROJECT=$SC_PROJECT"
    echo "NOTES_REPO=$NOTES_REPO"
    echo "NOTES_PORT=$NOTES_PORT"
    echo "NOTES_UNPUBLISHED=$NOTES_UNPUBLISHED"
    echo "NOTES_STAGING=$NOTES_STAGING"
    local entry n
    for entry in "${NOTES_VERSIONS[@]}"; do
      read -r n _ <<<"$entry"
      echo "NOTES_SHA_V$n=$(notes_sha "$n")"
      echo "NOTES_TAGS_V$n=\"$(notes_tags "$n" | tr '\n' ' ' | sed 's/ $//')\""
    done
  } >"$SC_DIR/scenario.env"
}

scenario_down() {
  [[ -f $SC_DEPLOY/docker-compose.yml ]] || return 0
  local args=(down --remove-orphans)
  [[ ${1:-} == --purge ]] && args+=(--volumes)
  say "stopping compose project $SC_PROJECT"
  sc_compose "${args[@]}" 2>&1 | sed 's/^/  /'
}
