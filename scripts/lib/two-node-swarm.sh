# A two-node Docker Swarm on this one machine (tests/swarm_two_node.rs): two dockerds, each in
# a network namespace of its own (eltsw-n1 10.231.0.1, eltsw-n2 10.231.0.2) and a UTS namespace
# naming it, joined by a bridge on the host (eltsw-br, 10.231.0.254). Only loopback and these
# namespaces carry traffic. Each node advertises one NVIDIA-GPU generic resource, so a service
# reserving one GPU per task is spread over both nodes. The nodes pull from the test registry as
# 10.231.0.254:5000, which the host forwards to the registry on 127.0.0.1:5000 (the same
# repositories under a second name; console and nodes use that name).
# Sourced by scripts/testenv.sh (needs say, die, pid_alive, stop_pidfile, MACHINE_STATE).

TWO_NODE_NET=10.231.0
TWO_NODE_BRIDGE=eltsw-br
TWO_NODE_RUN=/run/elt-swarm2
TWO_NODE_DATA=/var/lib/elt-swarm2
TWO_NODE_REGISTRY=$TWO_NODE_NET.254:5000
two_node_host() { echo "unix://$TWO_NODE_RUN/n$1/docker.sock"; }
ndocker() { local n=$1; shift; DOCKER_HOST=$(two_node_host "$n") docker "$@"; }
two_node_engine_up() { ndocker "$1" info >/dev/null 2>&1; }

two_node_network() {
  local n
  if ! ip link show "$TWO_NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$TWO_NODE_BRIDGE" type bridge
    ip addr add "$TWO_NODE_NET.254/24" dev "$TWO_NODE_BRIDGE"
  fi
  ip link set "$TWO_NODE_BRIDGE" up
  # dockerd sets FORWARD's policy to DROP and bridged frames pass iptables (br_netfilter):
  # let the nodes (gossip 7946, vxlan 4789, manager 2377) reach each other.
  iptables -C FORWARD -i "$TWO_NODE_BRIDGE" -o "$TWO_NODE_BRIDGE" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$TWO_NODE_BRIDGE" -o "$TWO_NODE_BRIDGE" -j ACCEPT
  # The registry listens on loopback only: forward the bridge address to it, for the nodes
  # (PREROUTING) and for the console on this host (OUTPUT).
  sysctl -qw "net.ipv4.conf.$TWO_NODE_BRIDGE.route_localnet=1"
  local rule=(-d "$TWO_NODE_NET.254" -p tcp --dport 5000 -j DNAT --to-destination 127.0.0.1:5000)
  iptables -t nat -C PREROUTING -i "$TWO_NODE_BRIDGE" "${rule[@]}" 2>/dev/null ||
    iptables -t nat -I PREROUTING -i "$TWO_NODE_BRIDGE" "${rule[@]}"
  iptables -t nat -C OUTPUT "${rule[@]}" 2>/dev/null || iptables -t nat -I OUTPUT "${rule[@]}"
  for n in 1 2; do
    ip netns list | grep -qw "eltsw-n$n" && continue
    ip netns add "eltsw-n$n"
    ip link add "eltsw-n$n-h" type veth peer name eth0 netns "eltsw-n$n"
    ip link set "eltsw-n$n-h" master "$TWO_NODE_BRIDGE" up
    ip -n "eltsw-n$n" addr add "$TWO_NODE_NET.$n/24" dev eth0
    ip -n "eltsw-n$n" link set eth0 up
    ip -n "eltsw-n$n" link set lo up
    ip -n "eltsw-n$n" route add default via "$TWO_NODE_NET.254"
  done
}

two_node_start_engine() {
  local n=$1 run=$TWO_NODE_RUN/n$1
  two_node_engine_up "$n" && return 0
  mkdir -p "$run/exec" "$TWO_NODE_DATA/n$n"
  pid_alive "$run/dockerd.pid" dockerd || rm -f "$run/dockerd.pid"
  say "starting swarm node eltsw-n$n's dockerd in its network namespace ($(two_node_host "$n"))"
  # nsenter, not `ip netns exec`: that remounts /sys, hiding the cgroups dockerd needs. The
  # docker0 it makes lives in the namespace and never touches the host's.
  setsid nohup unshare --uts sh -c "hostname eltsw-n$n && exec nsenter --net=/run/netns/eltsw-n$n \
    dockerd --host $(two_node_host "$n") --data-root $TWO_NODE_DATA/n$n --exec-root $run/exec \
    --pidfile $run/dockerd.pid --insecure-registry $TWO_NODE_REGISTRY \
    --node-generic-resource NVIDIA-GPU=GPU-00000000-e17c-4000-8000-00000000a00$n" \
    >>"$MACHINE_STATE/swarm2-n$n.log" 2>&1 </dev/null &
}

ensure_two_node_swarm() {
  local n deadline token state
  [[ $(id -u) -eq 0 ]] || die "the two-node swarm needs root (network namespaces)"
  command -v nsenter >/dev/null && command -v unshare >/dev/null || die "nsenter/unshare (util-linux) not found"
  two_node_network
  for n in 1 2; do two_node_start_engine "$n"; done
  deadline=$((SECONDS + 60))
  until two_node_engine_up 1 && two_node_engine_up 2; do
    ((SECONDS < deadline)) || { tail -5 "$MACHINE_STATE"/swarm2-n*.log >&2; die "the two-node swarm's dockerds did not answer within 60s"; }
    sleep 0.2
  done
  if [[ $(ndocker 1 info --format '{{.Swarm.LocalNodeState}}') != active ]]; then
    say "docker swarm init on eltsw-n1 ($TWO_NODE_NET.1)"
    ndocker 1 swarm init --advertise-addr "$TWO_NODE_NET.1" --listen-addr "$TWO_NODE_NET.1:2377" \
      --default-addr-pool 10.232.0.0/16 >/dev/null || die "docker swarm init on eltsw-n1 failed"
  fi
  if [[ $(ndocker 2 info --format '{{.Swarm.LocalNodeState}}') != active ]]; then
    token=$(ndocker 1 swarm join-token -q worker) || die "no join token from eltsw-n1"
    say "eltsw-n2 joins the swarm"
    timeout 60 env DOCKER_HOST="$(two_node_host 2)" docker swarm join --token "$token" \
      --advertise-addr "$TWO_NODE_NET.2" --listen-addr "$TWO_NODE_NET.2:2377" \
      "$TWO_NODE_NET.1:2377" >/dev/null || die "eltsw-n2 could not join the swarm at $TWO_NODE_NET.1:2377"
  fi
  deadline=$((SECONDS + 60))
  while :; do
    state=$(ndocker 1 node ls --format '{{.Hostname}}={{.Status}}' 2>/dev/null | sort | tr '\n' ' ')
    [[ $state == *"eltsw-n1=Ready"* && $state == *"eltsw-n2=Ready"* ]] && break
    ((SECONDS < deadline)) || die "the two-node swarm is not ready after 60s (nodes: $state)"
    sleep 0.5
  done
  # Each node pulls from the forwarded registry address itself.
  for n in 1 2; do
    ndocker "$n" pull -q "$TWO_NODE_REGISTRY/${BUSYBOX_IMAGE#*/}" >/dev/null ||
      die "swarm node eltsw-n$n cannot pull from $TWO_NODE_REGISTRY"
  done
}

two_node_env() {
  echo "ELT_TEST_SWARM2_MANAGER=$(two_node_host 1)"
  echo "ELT_TEST_SWARM2_WORKER=$(two_node_host 2)"
  echo "ELT_TEST_SWARM2_REGISTRY=$TWO_NODE_REGISTRY"
}

stop_two_node_swarm() {
  local n
  for n in 2 1; do
    stop_pidfile "$TWO_NODE_RUN/n$n/dockerd.pid" dockerd "swarm node eltsw-n$n's dockerd" 20
    ip netns del "eltsw-n$n" 2>/dev/null || true
  done
  # The swarm's state stays in the data roots: the next `up` brings the same two nodes back.
  ip link del "$TWO_NODE_BRIDGE" 2>/dev/null || true
}
