# shellcheck shell=bash
# Sourced by scripts/testenv.sh and scripts/soak.sh. A dockerd started with `--bridge NAME` or
# `--bridge=none` deletes the default bridge interface (docker0) when it starts, even though the
# machine's main engine owns it: that engine's `docker run` on its default network then fails
# with "could not find bridge docker0". After starting such an engine, put docker0 back as the
# main engine had it (its `bridge` network's subnet and gateway).
restore_default_bridge() {
  ip link show docker0 >/dev/null 2>&1 && return 0
  local ipam subnet gateway
  ipam=$(DOCKER_HOST=${1:-unix:///var/run/docker.sock} docker network inspect bridge \
    -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' 2>/dev/null) || return 0
  read -r subnet gateway <<<"$ipam"
  [[ -n $subnet && -n $gateway ]] || return 0
  ip link add docker0 type bridge &&
    ip addr add "$gateway/${subnet#*/}" dev docker0 &&
    ip link set docker0 up &&
    printf 'default bridge docker0 put back (%s), deleted by a second dockerd\n' "$gateway/${subnet#*/}" >&2
}
