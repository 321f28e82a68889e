#!/bin/sh
# Takes a Herald web process out of nginx's rotation when its /readyz stops answering 200, and puts
# it back when it answers again. nginx (open source) has no active health checks: without this, it
# learns that a process is going only when its connections are refused, and a POST that reached the
# process's listen queue in the instant it closed is lost (deploy/README.md, "Rolling restarts").
# A Herald process answers 503 on /readyz from SIGTERM on and keeps serving for
# HERALD_DRAIN_DELAY_MS; this script sees that within HERALD_READYZ_INTERVAL, rewrites the upstream
# servers file (`down`) and reloads nginx, well before the process closes its listener.
#
# compose.yaml mounts it as /docker-entrypoint.d/90-herald-readyz.sh in the nginx image, whose
# entrypoint runs it before nginx starts: it writes the servers file once (every process in
# rotation) and leaves its loop running beside nginx. POSIX sh (busybox or dash), with curl or wget.
#
# Settings (environment):
#   HERALD_UPSTREAMS        host:port of each web process, space-separated (required)
#   HERALD_UPSTREAM_FILE    the file the `upstream` block includes (/etc/nginx/herald-upstream.conf)
#   HERALD_UPSTREAM_PARAMS  parameters on each server line ("resolve max_fails=1 fail_timeout=2s")
#   HERALD_READYZ_INTERVAL  seconds between rounds of checks (1); keep it well under the web
#                           processes' HERALD_DRAIN_DELAY_MS
#   HERALD_NGINX_RELOAD     the command that reloads nginx ("nginx -s reload")
# Each change of rotation is one line on stdout: `herald-readyz: out <host:port>` or `in …`.
set -u

upstreams=${HERALD_UPSTREAMS:?HERALD_UPSTREAMS: the web processes as host:port, space-separated}
file=${HERALD_UPSTREAM_FILE:-/etc/nginx/herald-upstream.conf}
params=${HERALD_UPSTREAM_PARAMS:-resolve max_fails=1 fail_timeout=2s}
interval=${HERALD_READYZ_INTERVAL:-1}
reload=${HERALD_NGINX_RELOAD:-nginx -s reload}

if command -v curl >/dev/null 2>&1; then
  ready() { curl -fsS -o /dev/null --max-time 1 "http://$1/readyz" 2>/dev/null; }
else
  ready() { wget -q -T 1 -O /dev/null "http://$1/readyz" 2>/dev/null; }
fi

# The servers file for a list of "host:port:1" (in rotation) or "host:port:0" (out), written to a
# temporary file and renamed, so that nginx never reads half of one.
write() {
  : >"$file.tmp"
  for entry in $1; do
    addr=${entry%:*}
    if [ "${entry##*:}" = 1 ]; then
      echo "server $addr $params;" >>"$file.tmp"
    else
      echo "server $addr $params down;" >>"$file.tmp"
    fi
  done
  mv -f "$file.tmp" "$file"
}

state=""
for u in $upstreams; do state="$state $u:1"; done
write "$state"

watch() {
  while :; do
    sleep "$interval"
    next=""
    any=0
    for u in $upstreams; do
      if ready "$u"; then
        next="$next $u:1"
        any=1
      else
        next="$next $u:0"
      fi
    done
    # With no process ready, keep what nginx has: marking every server down would make nginx answer
    # 502 to everything, while a process that still accepts connections may answer.
    [ "$any" = 1 ] || continue
    [ "$next" = "$state" ] && continue
    for entry in $next; do
      case " $state " in
        *" $entry "*) ;;
        *) if [ "${entry##*:}" = 1 ]; then echo "herald-readyz: in ${entry%:*}"; else echo "herald-readyz: out ${entry%:*}"; fi ;;
      esac
    done
    write "$next"
    state=$next
    $reload || echo "herald-readyz: reload failed: $reload" >&2
  done
}

# In the image's entrypoint (sourced or run before nginx starts), the loop goes to the background;
# run with --foreground (tests, a sidecar) it stays in front.
if [ "${1:-}" = "--foreground" ]; then
  watch
else
  watch &
fi
