# Shared pieces of the sandbox scenarios (sourced by their scenario.sh; see README.md).

SC_REGISTRY=${ELT_TEST_REGISTRY:-127.0.0.1:5000}
SC_NAMESPACE=${ELT_SCENARIO_NAMESPACE:-acme}
[[ $SC_NAMESPACE =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "ELT_SCENARIO_NAMESPACE must be lowercase letters, digits, '-'"

sc_sha() { printf '%s' "$1" | sha1sum | cut -c1-40; }

# A root file system with busybox-static and its applets, /etc/passwd and a sticky /tmp.
sc_rootfs() {
  local dir=$1 applet
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
}

# docker build (legacy builder: nothing is pulled for FROM scratch) with the given args.
sc_build() {
  DOCKER_BUILDKIT=0 docker build -q "$@" >/dev/null 2>"$SC_DIR/build.log" ||
    { cat "$SC_DIR/build.log" >&2; die "docker build failed ($*)"; }
}

sc_push() {
  docker push -q "$1" >/dev/null 2>"$SC_DIR/push.log" ||
    { cat "$SC_DIR/push.log" >&2; die "docker push $1 failed"; }
}

# The tags of a repository of the local registry, one a line.
sc_registry_tags() {
  curl -fsS -m 5 "http://$SC_REGISTRY/v2/$1/tags/list" 2>/dev/null | jq -r '.tags[]?' 2>/dev/null || true
}

sc_compose() {
  (cd "$SC_DEPLOY" && "${COMPOSE[@]}" -p "$SC_PROJECT" -f docker-compose.yml "$@")
}

# Poll a command until it succeeds, or fail after $2 seconds naming $1.
sc_wait() {
  local what=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.3
  done
}

# A service's container is running and, if it has a healthcheck, healthy.
sc_service_up() {
  local id state
  id=$(sc_compose ps -q "$1" 2>/dev/null) || return 1
  [[ -n $id ]] || return 1
  state=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id") || return 1
  [[ $state == "running healthy" || $state == "running none" ]]
}

# The console config's tables every scenario writes alike (in its config heredoc, as
# $(sc_config_deployment) and so on): its compose project, the local registry, and a GitHub
# repository that is not reached.
sc_config_deployment() {
  cat <<CONF
[deployment]
project = "$SC_PROJECT"
compose_file = "$SC_DEPLOY/docker-compose.yml"
env_file = "$SC_DEPLOY/.env"
state_dir = "$SC_STATE"
CONF
}

sc_config_registry() {
  cat <<CONF
[registry]
plain_http = ["$SC_REGISTRY"]
username = ""
password_env = ""
CONF
}

# $1: the repository (owner/name), $2: its build workflow.
sc_config_github() {
  cat <<CONF
[github]
repo = "$1"
workflow = "$2"
# No GitHub stand-in in scenarios: the runs panel says it cannot reach this.
api_url = "http://127.0.0.1:9"
token_file = ""
CONF
}
