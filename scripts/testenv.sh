#!/usr/bin/env bash
# Real-parts test environment for elt-console: a Docker engine, a local OCI registry on
# 127.0.0.1:5000 and stub ELT app images pushed to it. Idempotent; fast when already up.
#
#   scripts/testenv.sh up       install what is missing (root), start dockerd + registry,
#                               build/push stub images, write $STATE/testenv.env
#   scripts/testenv.sh down     stop what `up` started (and the sandbox, see scripts/sandbox.sh)
#
# For the several-hosts tests `up` also starts a second dockerd (its own socket under
# /run/elt-engine2, data root, exec root and bridge elt-br2, no iptables rules of its own) and
# an sshd on 127.0.0.1 only with key-only root login, so that
# DOCKER_HOST=ssh://root@127.0.0.1:$ELT_TEST_SSH_PORT reaches the first engine through
# `docker system dial-stdio` (client key, config and known_hosts under $MACHINE_STATE/ssh).
#   scripts/testenv.sh status   print what runs
#
# State dir: ${ELT_TESTENV_DIR:-<repo>/.sandbox/testenv}
#
# Docker Swarm (tests/swarm.rs) runs on a dockerd of its own, never on the shared engine above:
# socket ${ELT_SWARM_RUN:-/run/elt-swarm}/docker.sock, data root ${ELT_SWARM_DATA:-/var/lib/elt-swarm},
# its own bridge (elt-swarm0, 10.220.0.1/24), address pools 10.221.0.0/16 (docker_gwbridge) and
# 10.222.0.0/16 (overlays), no iptables rules, a single-node swarm listening on 127.0.0.1:2377.
# The node advertises four fake GPUs as NVIDIA-GPU generic resources, as an operator's
# daemon.json `node-generic-resources` would (docs/scaling.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${ELT_TESTENV_DIR:-$ROOT/.sandbox/testenv}
# The second engine and the sshd belong to the machine, not to one checkout: a fresh clone (CI)
# reuses them, with the same certificates and keys, when another checkout started them.
MACHINE_STATE=${ELT_TESTENV_MACHINE_DIR:-/var/lib/elt-testenv}
SANDBOX_DIR=$ROOT/.sandbox
REGISTRY_ADDR=127.0.0.1:5000
REPO_PATH=elt/english-listening-trainer
IMAGE=$REGISTRY_ADDR/$REPO_PATH
BUSYBOX_REPO=elt/testenv-busybox
BUSYBOX_IMAGE=$REGISTRY_ADDR/$BUSYBOX_REPO:latest
# Stand-in for Traefik (testenv/stubproxy), for the multi-service-traefik scenario.
PROXY_REPO=elt/testenv-traefik
PROXY_IMAGE=$REGISTRY_ADDR/$PROXY_REPO:latest
SOURCE_URL=https://github.com/arthurlee116/english-listening-trainer
DOCKER_SOCK=/var/run/docker.sock
# The second engine: short paths (a unix socket path is limited to 108 bytes). Its bridge and
# address pool are apart from the first engine's (172.17.0.0/16 and its 172.18+/192.168 pools)
# and from the soak engine's (no bridge).
ENGINE2_RUN=/run/elt-engine2
ENGINE2_SOCK=$ENGINE2_RUN/docker.sock
ENGINE2_BRIDGE=elt-br2
ENGINE2_BIP=10.210.0.1/24
ENGINE2_POOL=10.211.0.0/16
SSH_PORT=${ELT_TESTENV_SSH_PORT:-2222}
ENGINE2_TLS_PORT=${ELT_TESTENV_ENGINE2_TLS_PORT:-2376}
# Bump when the image recipe changes in a way the source hash below does not see.
RECIPE_VERSION=2

# version behaviour created-label
VERSIONS=(
  "v1 good 2026-11-19T08:00:00Z"
  "v2 good 2026-11-19T20:00:00Z"
  "v3 bad 2026-11-20T08:00:00Z"
  "v4 slow 2026-11-20T20:00:00Z"
)
LATEST_VERSION=v2

say() { printf 'testenv: %s\n' "$*"; }
die() { printf 'testenv: error: %s\n' "$*" >&2; exit 1; }

sha_of() { printf 'elt-stub-%s' "$1" | sha1sum | cut -c1-40; }

# shellcheck source=scripts/lib/pidfile.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"
# shellcheck source=scripts/lib/default-bridge.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/default-bridge.sh"
# shellcheck source=scripts/lib/two-node-swarm.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/two-node-swarm.sh"

engine_up() { docker info >/dev/null 2>&1; }

SWARM_RUN=${ELT_SWARM_RUN:-/run/elt-swarm}
SWARM_DATA=${ELT_SWARM_DATA:-/var/lib/elt-swarm}
SWARM_HOST=unix://$SWARM_RUN/docker.sock
SWARM_BRIDGE=elt-swarm0
SWARM_BRIDGE_ADDR=10.220.0.1/24
# Four, so the tests that reserve one each (tests/swarm.rs runs them in parallel) never wait.
SWARM_GPUS=(GPU-00000000-e17c-4000-8000-000000000001 GPU-00000000-e17c-4000-8000-000000000002
  GPU-00000000-e17c-4000-8000-000000000003 GPU-00000000-e17c-4000-8000-000000000004)
sdocker() { DOCKER_HOST=$SWARM_HOST docker "$@"; }
swarm_engine_up() { sdocker info >/dev/null 2>&1; }
swarm_active() { [[ $(sdocker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) == active ]]; }
registry_up() { curl -fsS -m 2 "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

# ---------------------------------------------------------------- packages
ensure_packages() {
  local missing=() pkg
  # Judge by what is usable, not by package name: GitHub's runners ship docker-ce, and
  # installing Debian's docker.io over it would conflict.
  command -v dockerd >/dev/null || engine_up || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  [[ -x /bin/busybox ]] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' ||
    dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
  # The swarm's engine gets a bridge of its own (ip, from iproute2).
  command -v ip >/dev/null || missing+=(iproute2)
  for cmd in tmux gcc python3 curl jq; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
  done
  [[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
  # tests/deb.rs: `man -w` on the installed page, `systemd-analyze verify` on the unit.
  command -v man >/dev/null || missing+=(man-db)
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  # The several-hosts tests: an ssh:// endpoint through a local sshd, a bridge for engine 2.
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  command -v ssh >/dev/null || missing+=(openssh-client)
  command -v ip >/dev/null || missing+=(iproute2)
  # tests/proxy_switch.rs: the start-first switch through a real nginx and a real Caddy
  # (their own instances, loopback only).
  command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  command -v caddy >/dev/null || missing+=(caddy)
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) -ne 0 ]]; then
    die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No service may start from a package's scripts (nginx would take port 80 on every
  # address): the tests start their own instances on loopback.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$STATE/apt.log" 2>&1 || rc=$?
  ((made_policy)) && rm -f "$policy"
  ((rc == 0)) || { tail -20 "$STATE/apt.log" >&2; die "apt-get install failed (log: $STATE/apt.log)"; }
}

# cargo-deb builds the Debian package (scripts/build-deb.sh, tests/deb.rs). Installed into the
# caller's cargo bin dir, not as root; a few minutes on a fresh machine, nothing afterwards.
ensure_cargo_deb() {
  command -v cargo-deb >/dev/null && return 0
  command -v cargo >/dev/null || die "cargo not found (needed to install cargo-deb)"
  say "installing cargo-deb (cargo install cargo-deb --locked; log: $STATE/cargo-deb.log)"
  cargo install cargo-deb --locked >"$STATE/cargo-deb.log" 2>&1 ||
    { tail -20 "$STATE/cargo-deb.log" >&2; die "cargo install cargo-deb failed (log: $STATE/cargo-deb.log)"; }
  command -v cargo-deb >/dev/null || die "cargo-deb installed but not on PATH (add ~/.cargo/bin)"
}

# ---------------------------------------------------------------- docker engine
ensure_engine() {
  if engine_up; then
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "no Docker engine answers 'docker info' and starting dockerd needs root"
  command -v dockerd >/dev/null || die "dockerd not found (package docker.io)"
  say "starting dockerd (log: $STATE/dockerd.log)"
  # One download attempt per layer: the interrupted-pull tests exercise the console's own
  # retries, not dockerd's (5 attempts with growing pauses, minutes per test).
  setsid nohup dockerd --host "unix://$DOCKER_SOCK" --pidfile "$STATE/dockerd.daemon.pid" \
    --max-download-attempts 1 \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  echo $! >"$STATE/dockerd.pid"
  local deadline=$((SECONDS + 60))
  until engine_up; do
    if ! pid_alive "$STATE/dockerd.pid" dockerd; then
      tail -30 "$STATE/dockerd.log" >&2
      die "dockerd exited"
    fi
    if ((SECONDS >= deadline)); then
      tail -30 "$STATE/dockerd.log" >&2
      die "dockerd did not answer within 60s"
    fi
    sleep 0.2
  done
  say "dockerd up ($(docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
}

# ---------------------------------------------------------------- second engine
engine2_up() { DOCKER_HOST=unix://$ENGINE2_SOCK docker info >/dev/null 2>&1; }

# The second engine's TLS port (tcp://127.0.0.1:$ENGINE2_TLS_PORT): a CA, a server certificate
# for 127.0.0.1 and a client certificate, made once under $MACHINE_STATE/engine2-tls (as
# DOCKER_CERT_PATH lays them out: ca.pem, cert.pem, key.pem for the client).
ensure_engine2_certs() {
  local d=$MACHINE_STATE/engine2-tls
  [[ -f $d/client/key.pem && -f $d/server/key.pem ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (package openssl)"
  rm -rf "$d" && mkdir -p "$d/server" "$d/client" && chmod 700 "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=elt-testenv-ca \
      -keyout ca-key.pem -out ca.pem >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
      -keyout server/key.pem -out server.csr >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server/cert.pem >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj /CN=elt-testenv-client \
      -keyout client/key.pem -out client.csr >/dev/null 2>&1
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out client/cert.pem >/dev/null 2>&1
    cp ca.pem server/ca.pem && cp ca.pem client/ca.pem
    rm -f ./*.csr ./*.ext
  ) || die "openssl could not make the second engine's certificates"
  [[ -f $d/client/cert.pem && -f $d/server/cert.pem ]] || die "openssl made no certificates in $d"
}

engine2_tls_up() {
  DOCKER_HOST=tcp://127.0.0.1:$ENGINE2_TLS_PORT DOCKER_TLS_VERIFY=1 \
    DOCKER_CERT_PATH=$MACHINE_STATE/engine2-tls/client docker info >/dev/null 2>&1
}


ensure_engine2() {
  ensure_engine2_certs
  if engine2_up; then
    engine2_tls_up && return 0
    # Started by an earlier version of this script, without the TLS port: restart ours.
    pid_alive "$MACHINE_STATE/engine2.pid" dockerd ||
      die "a second engine answers on $ENGINE2_SOCK without TLS on 127.0.0.1:$ENGINE2_TLS_PORT, and this script did not start it"
    stop_pidfile "$MACHINE_STATE/engine2.pid" dockerd "second dockerd (restarting with its TLS port)"
  fi
  [[ $(id -u) -eq 0 ]] || die "starting the second dockerd needs root"
  # Its addresses must not overlap a network the first engine already made.
  local nets
  nets=$(docker network ls -q | xargs -r docker network inspect \
    --format '{{range .IPAM.Config}}{{.Subnet}} {{end}}' 2>/dev/null || true)
  if grep -qE '(^| )10\.21[01]\.' <<<"$nets"; then
    die "the first engine has a network in 10.210.0.0/16 or 10.211.0.0/16 ($nets); the second engine's would clash"
  fi
  if ! ip link show "$ENGINE2_BRIDGE" >/dev/null 2>&1; then
    ip link add "$ENGINE2_BRIDGE" type bridge || die "cannot create bridge $ENGINE2_BRIDGE"
    echo "$ENGINE2_BRIDGE" >"$MACHINE_STATE/engine2.bridge"
  fi
  ip -4 addr show dev "$ENGINE2_BRIDGE" | grep -q "inet $ENGINE2_BIP" ||
    ip addr add "$ENGINE2_BIP" dev "$ENGINE2_BRIDGE"
  ip link set "$ENGINE2_BRIDGE" up
  mkdir -p "$ENGINE2_RUN" "$MACHINE_STATE/engine2/data"
  say "starting the second dockerd on unix://$ENGINE2_SOCK (log: $MACHINE_STATE/engine2.log)"
  # No iptables rules of its own: two engines rewriting the same chains could break the first
  # one's; the userland proxy still publishes ports on the host's loopback.
  local tls=$MACHINE_STATE/engine2-tls/server
  setsid nohup dockerd --host "unix://$ENGINE2_SOCK" --data-root "$MACHINE_STATE/engine2/data" \
    --host "tcp://127.0.0.1:$ENGINE2_TLS_PORT" --tlsverify \
    --tlscacert "$tls/ca.pem" --tlscert "$tls/cert.pem" --tlskey "$tls/key.pem" \
    --exec-root "$ENGINE2_RUN/exec" --pidfile "$ENGINE2_RUN/dockerd.pid" \
    --bridge "$ENGINE2_BRIDGE" --default-address-pool "base=$ENGINE2_POOL,size=24" \
    --iptables=false --ip-masq=false --max-download-attempts 1 \
    >"$MACHINE_STATE/engine2.log" 2>&1 </dev/null &
  echo $! >"$MACHINE_STATE/engine2.pid"
  local deadline=$((SECONDS + 60))
  until engine2_up && engine2_tls_up; do
    # kill -0, not the command line: between setsid's and nohup's exec it can read empty.
    if ! kill -0 "$(cat "$MACHINE_STATE/engine2.pid")" 2>/dev/null; then
      tail -30 "$MACHINE_STATE/engine2.log" >&2
      die "the second dockerd exited"
    fi
    if ((SECONDS >= deadline)); then
      tail -30 "$MACHINE_STATE/engine2.log" >&2
      die "the second dockerd did not answer within 60s"
    fi
    sleep 0.2
  done
  say "second dockerd up ($(DOCKER_HOST=unix://$ENGINE2_SOCK docker info --format '{{.ServerVersion}} {{.Driver}}' 2>/dev/null))"
}

# The second engine pulls from the registry on the host's loopback (registries on 127.0.0.0/8
# are insecure by default): checked with the busybox image.
check_engine2_pull() {
  DOCKER_HOST=unix://$ENGINE2_SOCK docker image inspect "$BUSYBOX_IMAGE" >/dev/null 2>&1 && return 0
  DOCKER_HOST=unix://$ENGINE2_SOCK docker pull -q "$BUSYBOX_IMAGE" >/dev/null 2>"$MACHINE_STATE/engine2-pull.log" ||
    { cat "$MACHINE_STATE/engine2-pull.log" >&2; die "the second engine cannot pull $BUSYBOX_IMAGE from $REGISTRY_ADDR"; }
}

# ---------------------------------------------------------------- sshd on loopback
ssh_up() {
  ssh -F "$MACHINE_STATE/ssh/client_config" -o ConnectTimeout=3 test-host true >/dev/null 2>&1
}

ensure_sshd() {
  local d=$MACHINE_STATE/ssh
  mkdir -p "$d" && chmod 700 "$d"
  [[ -f $d/host_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C elt-testenv-host -f "$d/host_ed25519"
  [[ -f $d/client_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C elt-testenv-client -f "$d/client_ed25519"
  cp "$d/client_ed25519.pub" "$d/authorized_keys"
  chmod 600 "$d/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$SSH_PORT" "$(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >"$d/known_hosts"
  cat >"$d/sshd_config" <<SSHD_CONFIG
# Written by scripts/testenv.sh: loopback only, key-only root login, this key only.
ListenAddress 127.0.0.1:$SSH_PORT
HostKey $d/host_ed25519
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
SSHD_CONFIG
  cat >"$d/client_config" <<SSH_CONFIG
# Written by scripts/testenv.sh (ssh -F): the test host's key checked, nothing asked.
Host test-host
  HostName 127.0.0.1
  Port $SSH_PORT
  User root
  IdentityFile $d/client_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
SSH_CONFIG
  if ! ssh_up; then
    [[ $(id -u) -eq 0 ]] || die "starting sshd needs root"
    mkdir -p /run/sshd
    /usr/sbin/sshd -t -f "$d/sshd_config" || die "sshd rejects $d/sshd_config"
    say "starting sshd on 127.0.0.1:$SSH_PORT (log: $MACHINE_STATE/sshd.log)"
    setsid nohup /usr/sbin/sshd -D -e -f "$d/sshd_config" >"$MACHINE_STATE/sshd.log" 2>&1 </dev/null &
    echo $! >"$MACHINE_STATE/sshd.pid"
    local deadline=$((SECONDS + 20))
    until ssh_up; do
      if ! kill -0 "$(cat "$MACHINE_STATE/sshd.pid")" 2>/dev/null; then
        tail -20 "$MACHINE_STATE/sshd.log" >&2
        die "sshd exited (port $SSH_PORT taken? set ELT_TESTENV_SSH_PORT)"
      fi
      ((SECONDS < deadline)) || { tail -20 "$MACHINE_STATE/sshd.log" >&2; die "sshd did not answer within 20s"; }
      sleep 0.2
    done
  fi
  # What the docker CLI and the console run over ssh://: the engine's API on stdin/stdout.
  ssh -F "$d/client_config" test-host docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "docker does not answer over ssh (ssh -F $d/client_config test-host docker version)"
}

# ---------------------------------------------------------------- swarm engine
ensure_swarm() {
  local gpu have
  if ! swarm_engine_up; then
    [[ $(id -u) -eq 0 ]] || die "starting the swarm's dockerd needs root"
    mkdir -p "$SWARM_RUN/exec" "$SWARM_DATA"
    # Its own bridge: dockerd's default (docker0) belongs to the shared engine.
    if ! ip link show "$SWARM_BRIDGE" >/dev/null 2>&1; then
      ip link add "$SWARM_BRIDGE" type bridge
      ip addr add "$SWARM_BRIDGE_ADDR" dev "$SWARM_BRIDGE"
    fi
    ip link set "$SWARM_BRIDGE" up
    # A crashed earlier dockerd can leave its pid file; dockerd refuses to start over a live one.
    pid_alive "$SWARM_RUN/dockerd.pid" dockerd || rm -f "$SWARM_RUN/dockerd.pid"
    local resources=()
    for gpu in "${SWARM_GPUS[@]}"; do resources+=(--node-generic-resource "NVIDIA-GPU=$gpu"); done
    say "starting the swarm's dockerd on $SWARM_HOST (log: $STATE/swarm-dockerd.log)"
    setsid nohup dockerd --host "$SWARM_HOST" --data-root "$SWARM_DATA" \
      --exec-root "$SWARM_RUN/exec" --pidfile "$SWARM_RUN/dockerd.pid" \
      --bridge "$SWARM_BRIDGE" --default-address-pool base=10.221.0.0/16,size=24 \
      --iptables=false --ip-masq=false --ip-forward=false "${resources[@]}" \
      >>"$STATE/swarm-dockerd.log" 2>&1 </dev/null &
    local deadline=$((SECONDS + 60))
    until swarm_engine_up; do
      ((SECONDS < deadline)) || { tail -20 "$STATE/swarm-dockerd.log" >&2; die "the swarm's dockerd did not answer within 60s"; }
      sleep 0.2
    done
  fi
  if ! swarm_active; then
    say "docker swarm init on $SWARM_HOST"
    sdocker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
      --data-path-addr 127.0.0.1 --default-addr-pool 10.222.0.0/16 >/dev/null ||
      die "docker swarm init failed"
  fi
  # After a restart the node reports itself down until its agent is back.
  local deadline=$((SECONDS + 30))
  until [[ $(sdocker node inspect self --format '{{.Status.State}}' 2>/dev/null) == ready ]]; do
    ((SECONDS < deadline)) || die "the swarm node is not ready after 30s"
    sleep 0.2
  done
  have=$(sdocker node inspect self --format '{{range .Description.Resources.GenericResources}}{{.NamedResourceSpec.Value}} {{end}}')
  for gpu in "${SWARM_GPUS[@]}"; do
    if [[ $have != *"$gpu"* ]]; then
      # Started with another list (an older recipe): the flags only take effect on a start.
      ((${restarted:-0} == 0)) || die "the swarm node does not advertise $gpu (node: $have)"
      say "the swarm's dockerd advertises other GPUs ($have); restarting it"
      stop_pidfile "$SWARM_RUN/dockerd.pid" dockerd "the swarm's dockerd" 20
      restarted=1 ensure_swarm
      return
    fi
  done
  # Tasks pull from the local registry themselves; prove the swarm's engine reaches it.
  sdocker pull -q "$BUSYBOX_IMAGE" >/dev/null 2>"$STATE/swarm-pull.log" ||
    { cat "$STATE/swarm-pull.log" >&2; die "the swarm's engine cannot pull $BUSYBOX_IMAGE"; }
}

swarm_env() {
  echo "ELT_TEST_SWARM_DOCKER_HOST=$SWARM_HOST"
  echo "ELT_TEST_SWARM_GPUS=$(IFS=,; echo "${SWARM_GPUS[*]}")"
}

stop_swarm() {
  stop_pidfile "$SWARM_RUN/dockerd.pid" dockerd "the swarm's dockerd" 20
  # The swarm's state stays in its data root: the next `up` restarts the same single-node swarm.
  if ip link show "$SWARM_BRIDGE" >/dev/null 2>&1; then
    ip link del "$SWARM_BRIDGE" 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------- registry
ensure_registry() {
  if registry_up; then
    return 0
  fi
  command -v docker-registry >/dev/null || die "docker-registry not found"
  mkdir -p "$STATE/registry/data"
  cat >"$STATE/registry/config.yml" <<EOF
# Written by scripts/testenv.sh
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  say "starting registry on $REGISTRY_ADDR (log: $STATE/registry.log)"
  setsid nohup docker-registry serve "$STATE/registry/config.yml" \
    >"$STATE/registry.log" 2>&1 </dev/null &
  echo $! >"$STATE/registry.pid"
  local deadline=$((SECONDS + 30))
  until registry_up; do
    if ! pid_alive "$STATE/registry.pid" docker-registry; then
      tail -20 "$STATE/registry.log" >&2
      die "registry exited"
    fi
    if ((SECONDS >= deadline)); then
      tail -20 "$STATE/registry.log" >&2
      die "registry did not answer within 30s"
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------- images
recipe_hash() {
  {
    echo "$RECIPE_VERSION"
    printf '%s\n' "${VERSIONS[@]}"
    cat "$ROOT/testenv/stubapp/stub-app.c" "$ROOT/testenv/stubapp/Dockerfile" "$ROOT/testenv/stubapp/Dockerfile.busybox"
    cat "$ROOT/testenv/stubproxy/stub-proxy.c" "$ROOT/testenv/stubproxy/Dockerfile"
    sha256sum /bin/busybox | cut -d' ' -f1
  } | sha256sum | cut -d' ' -f1
}

registry_tags() {
  curl -fsS -m 5 "http://$REGISTRY_ADDR/v2/$1/tags/list" 2>/dev/null | jq -r '.tags[]?' 2>/dev/null || true
}

wanted_tags() {
  local v sha
  for entry in "${VERSIONS[@]}"; do
    read -r v _ _ <<<"$entry"
    sha=$(sha_of "$v")
    echo "main-$sha"
    echo "main-${sha:0:7}"
  done
  echo latest
}

images_current() {
  [[ -f $STATE/images.stamp && $(cat "$STATE/images.stamp") == "$(recipe_hash)" ]] || return 1
  local have t
  have=$(registry_tags "$REPO_PATH")
  for t in $(wanted_tags); do
    grep -qx -- "$t" <<<"$have" || return 1
  done
  registry_tags "$BUSYBOX_REPO" | grep -qx latest || return 1
  registry_tags "$PROXY_REPO" | grep -qx latest || return 1
}

build_rootfs() {
  local ctx=$1
  rm -rf "$ctx"
  mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/data" "$ctx/rootfs/tmp" "$ctx/rootfs/etc" "$ctx/versions"
  chmod 1777 "$ctx/rootfs/tmp"
  cp /bin/busybox "$ctx/rootfs/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$ctx/rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
}

build_images() {
  local ctx=$STATE/build/app bbctx=$STATE/build/busybox v behaviour created sha
  say "building stub images (gcc -static, FROM scratch)"
  build_rootfs "$bbctx"
  cp "$ROOT/testenv/stubapp/Dockerfile.busybox" "$bbctx/Dockerfile"
  build_rootfs "$ctx"
  gcc -static -O2 -Wall -o "$ctx/rootfs/stub-app" "$ROOT/testenv/stubapp/stub-app.c"
  strip "$ctx/rootfs/stub-app" 2>/dev/null || true
  cp "$ROOT/testenv/stubapp/Dockerfile" "$ctx/Dockerfile"
  export DOCKER_BUILDKIT=0
  docker build -q -t "$BUSYBOX_IMAGE" "$bbctx" >/dev/null 2>"$STATE/build.log" ||
    { cat "$STATE/build.log" >&2; die "docker build (busybox) failed"; }
  local pxctx=$STATE/build/proxy
  rm -rf "$pxctx" && mkdir -p "$pxctx"
  # glibc's getaddrinfo works statically here (files and dns are built into libc since 2.34).
  gcc -static -O2 -Wall -o "$pxctx/stub-proxy" "$ROOT/testenv/stubproxy/stub-proxy.c" 2>"$STATE/build.log" ||
    { cat "$STATE/build.log" >&2; die "gcc (stub-proxy) failed"; }
  strip "$pxctx/stub-proxy" 2>/dev/null || true
  cp "$ROOT/testenv/stubproxy/Dockerfile" "$pxctx/Dockerfile"
  docker build -q -t "$PROXY_IMAGE" "$pxctx" >/dev/null 2>"$STATE/build.log" ||
    { cat "$STATE/build.log" >&2; die "docker build (stub-proxy) failed"; }
  for entry in "${VERSIONS[@]}"; do
    read -r v behaviour created <<<"$entry"
    sha=$(sha_of "$v")
    # Per-version file: a version line plus n*128 KiB of deterministic, incompressible padding,
    # so each image has its own layer and a distinct size.
    {
      printf 'stub %s %s %s\n' "$v" "$behaviour" "$sha"
      python3 -c 'import hashlib,sys; n=int(sys.argv[1]); seed=sys.argv[2].encode()
sys.stdout.buffer.write(b"".join(hashlib.sha256(seed+i.to_bytes(4,"big")).digest() for i in range(n*4096)))' \
        "${v#v}" "$sha"
    } >"$ctx/versions/$v"
    local tags=(-t "$IMAGE:main-$sha" -t "$IMAGE:main-${sha:0:7}")
    [[ $v == "$LATEST_VERSION" ]] && tags+=(-t "$IMAGE:latest")
    docker build -q "${tags[@]}" \
      --build-arg "VERSION=$v" --build-arg "COMMIT=$sha" --build-arg "BEHAVIOUR=$behaviour" \
      --build-arg "CREATED=$created" "$ctx" >/dev/null 2>"$STATE/build.log" ||
      { cat "$STATE/build.log" >&2; die "docker build ($v) failed"; }
  done
  say "pushing to $REGISTRY_ADDR"
  local t
  docker push -q "$BUSYBOX_IMAGE" >/dev/null 2>"$STATE/push.log" ||
    { cat "$STATE/push.log" >&2; die "docker push $BUSYBOX_IMAGE failed"; }
  docker push -q "$PROXY_IMAGE" >/dev/null 2>"$STATE/push.log" ||
    { cat "$STATE/push.log" >&2; die "docker push $PROXY_IMAGE failed"; }
  for t in $(wanted_tags); do
    docker push -q "$IMAGE:$t" >/dev/null 2>"$STATE/push.log" ||
      { cat "$STATE/push.log" >&2; die "docker push $IMAGE:$t failed"; }
  done
  # Drop the dangling stub images that earlier recipes left behind.
  docker image prune -f --filter "label=org.opencontainers.image.source=$SOURCE_URL" >/dev/null 2>&1 || true
  recipe_hash >"$STATE/images.stamp"
}

# Local copies exist (compose must never need to pull); pull from the local registry if not.
ensure_local_images() {
  local refs=("$BUSYBOX_IMAGE" "$PROXY_IMAGE") t
  for t in $(wanted_tags); do refs+=("$IMAGE:$t"); done
  if ! docker image inspect "${refs[@]}" >/dev/null 2>&1; then
    say "pulling stub images from $REGISTRY_ADDR into the engine"
    for t in "${refs[@]}"; do
      docker image inspect "$t" >/dev/null 2>&1 || docker pull -q "$t" >/dev/null
    done
  fi
}

manifest_digest() {
  curl -fsS -m 5 -o /dev/null -D - \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY_ADDR/v2/$REPO_PATH/manifests/$1" |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

compose_cmd() {
  if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
  elif command -v docker-compose >/dev/null; then
    echo "docker-compose"
  else
    echo ""
  fi
}

write_env() {
  local f=$STATE/testenv.env tmp n v behaviour created sha compose
  # Per process: two `up`s at once (two sandboxes, two test binaries) must not share it.
  tmp=$f.tmp.$$
  compose=$(compose_cmd)
  {
    echo "# Written by scripts/testenv.sh up; source it (KEY=VALUE)."
    echo "ELT_TESTENV_DIR=$(printf '%q' "$STATE")"
    echo "ELT_TEST_REGISTRY=$REGISTRY_ADDR"
    echo "ELT_TEST_IMAGE=$IMAGE"
    echo "ELT_TEST_BUSYBOX_IMAGE=$BUSYBOX_IMAGE"
    echo "ELT_TEST_PROXY_IMAGE=$PROXY_IMAGE"
    echo "ELT_TEST_DOCKER_HOST=unix://$DOCKER_SOCK"
    echo "ELT_TEST_COMPOSE=$(printf '%q' "$compose")"
    if command -v docker-compose >/dev/null; then
      echo "ELT_TEST_COMPOSE_V1=$(command -v docker-compose)"
    fi
    echo "ELT_TEST_LATEST_VERSION=$LATEST_VERSION"
    n=0
    for entry in "${VERSIONS[@]}"; do
      n=$((n + 1))
      read -r v behaviour created <<<"$entry"
      sha=$(sha_of "$v")
      echo "ELT_TEST_SHA_V$n=$sha"
      echo "ELT_TEST_TAG_V$n=main-$sha"
      echo "ELT_TEST_SHORT_TAG_V$n=main-${sha:0:7}"
      echo "ELT_TEST_BEHAVIOUR_V$n=$behaviour"
      echo "ELT_TEST_CREATED_V$n=$created"
      echo "ELT_TEST_DIGEST_V$n=$(manifest_digest "main-$sha")"
    done
    echo "ELT_TEST_STANDIN=$(printf '%q' "$ROOT/scripts/github-standin.py")"
    echo "ELT_TEST_FIXTURES=$(printf '%q' "$ROOT/tests/fixtures")"
    echo "ELT_TEST_ENGINE2_HOST=unix://$ENGINE2_SOCK"
    echo "ELT_TEST_ENGINE2_TLS_HOST=tcp://127.0.0.1:$ENGINE2_TLS_PORT"
    echo "ELT_TEST_ENGINE2_CERT_PATH=$(printf '%q' "$MACHINE_STATE/engine2-tls/client")"
    echo "ELT_TEST_SSH_PORT=$SSH_PORT"
    echo "ELT_TEST_SSH_HOST=ssh://root@127.0.0.1:$SSH_PORT"
    echo "ELT_TEST_SSH_IDENTITY=$(printf '%q' "$MACHINE_STATE/ssh/client_ed25519")"
    echo "ELT_TEST_SSH_KNOWN_HOSTS=$(printf '%q' "$MACHINE_STATE/ssh/known_hosts")"
    swarm_env
    two_node_env
  } >"$tmp"
  mv "$tmp" "$f"
}

cmd_up() {
  local t0=$SECONDS
  mkdir -p "$STATE"
  ensure_packages
  ensure_cargo_deb
  ensure_engine
  ensure_registry
  if images_current; then
    say "stub images already in $REGISTRY_ADDR"
  else
    build_images
  fi
  ensure_local_images
  ensure_engine2
  check_engine2_pull
  ensure_sshd
  ensure_swarm
  ensure_two_node_swarm
  # The second and the swarm's dockerd (own bridges) deleted the main engine's docker0.
  restore_default_bridge
  write_env
  say "up in $((SECONDS - t0))s; env: $STATE/testenv.env"
}

cmd_down() {
  # The sandbox first (it needs the engine).
  if [[ -x $ROOT/scripts/sandbox.sh ]] && engine_up; then
    "$ROOT/scripts/sandbox.sh" down || true
  fi
  stop_pidfile "$SANDBOX_DIR/run/standin.pid" github-standin "GitHub stand-in"
  stop_pidfile "$MACHINE_STATE/sshd.pid" sshd sshd
  stop_pidfile "$MACHINE_STATE/engine2.pid" dockerd "second dockerd"
  if [[ -f $MACHINE_STATE/engine2.bridge ]]; then
    ip link delete "$(cat "$MACHINE_STATE/engine2.bridge")" 2>/dev/null || true
    rm -f "$MACHINE_STATE/engine2.bridge"
  fi
  stop_swarm
  stop_two_node_swarm
  stop_pidfile "$STATE/registry.pid" docker-registry registry
  if [[ -f $STATE/dockerd.pid ]]; then
    stop_pidfile "$STATE/dockerd.pid" dockerd dockerd
  else
    say "dockerd was not started by this script; leaving it running"
  fi
  say "down"
}

cmd_status() {
  if engine_up; then
    local who="not started by testenv"
    pid_alive "$STATE/dockerd.pid" dockerd && who="pid $(cat "$STATE/dockerd.pid"), started by testenv"
    say "engine: up ($(docker info --format '{{.ServerVersion}}' 2>/dev/null); $who)"
  else
    say "engine: down"
  fi
  if registry_up; then
    say "registry: up on $REGISTRY_ADDR; tags: $(registry_tags "$REPO_PATH" | sort | tr '\n' ' ')"
  else
    say "registry: down"
  fi
  if pid_alive "$SANDBOX_DIR/run/standin.pid" github-standin; then
    say "github stand-in: up (pid $(cat "$SANDBOX_DIR/run/standin.pid"), http://127.0.0.1:8787)"
  else
    say "github stand-in: down"
  fi
  if engine_up; then
    local ps
    ps=$(docker ps --filter label=com.docker.compose.project=elt-sandbox \
      --format '  {{.Names}}  {{.Status}}  {{.Image}}' 2>/dev/null || true)
    if [[ -n $ps ]]; then
      say "sandbox containers:"
      echo "$ps"
    else
      say "sandbox: no containers"
    fi
  fi
  if engine2_up; then
    local tls="TLS port down"
    engine2_tls_up && tls="TLS on tcp://127.0.0.1:$ENGINE2_TLS_PORT"
    say "second engine: up on unix://$ENGINE2_SOCK ($tls)"
  else
    say "second engine: down"
  fi
  if [[ -f $MACHINE_STATE/ssh/client_config ]] && ssh_up; then
    say "sshd: up on 127.0.0.1:$SSH_PORT"
  else
    say "sshd: down"
  fi
  if swarm_active; then
    say "swarm: active on $SWARM_HOST ($(sdocker service ls -q 2>/dev/null | wc -l) services)"
  else
    say "swarm: down"
  fi
  [[ -f $STATE/testenv.env ]] && say "env: $STATE/testenv.env"
  return 0
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
