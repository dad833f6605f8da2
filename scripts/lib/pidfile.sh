# Processes the scripts start and stop through pid files (sourced by testenv.sh and soak.sh;
# the caller defines `say`).

# A pid file's process is alive and its command line contains $2.
pid_alive() {
  local f=$1 want=$2 pid
  [[ -s $f ]] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$want"
}

# Stop the process in pid file $1 (command line containing $2, called $3 in messages): TERM,
# then KILL after ${4:-10} seconds.
stop_pidfile() {
  local f=$1 want=$2 name=$3 wait_s=${4:-10} pid i
  if pid_alive "$f" "$want"; then
    pid=$(cat "$f")
    say "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not exit, sending KILL"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}
