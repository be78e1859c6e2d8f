#!/usr/bin/env bash
# e2e/background.sh: a scenario that mostly waits (a pod certificate's rotation takes 5-13 minutes
# of kubelet's own timers) runs in the background while the other tests run, instead of holding a
# ctest slot, and RUN_SERIAL tests with it, for its whole length.
#
#   e2e/background.sh start DIR NAME COMMAND [ARGS...]   start it; back once it is set up
#   e2e/background.sh wait DIR NAME                      wait for it; its output, then its status
#
# tests/CMakeLists.txt registers both as ctest tests: `start` sets up a fixture that `wait`
# requires; hack/test runs `wait` after every other test (-FS: without the setup again). `start`
# returns when the scenario has created the file $E2E_BACKGROUND_READY (its setup done: the writes
# other tests' webhooks or restarts could disturb), or fails when it exits first or takes more
# than BACKGROUND_SETUP_TIMEOUT seconds (default 150). `wait` fails when the scenario failed, exited
# without a status (killed), or was never started.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR NAME COMMAND [ARGS...] | wait DIR NAME" >&2
  exit 2
}
(($# >= 3)) || usage
cmd=$1 dir=$2/$3
shift 3

case $cmd in
start)
  (($# >= 1)) || usage
  if [[ -f $dir/pid ]] && kill -0 "$(<"$dir/pid")" 2>/dev/null && [[ ! -f $dir/status ]]; then
    echo "FAIL $dir: a run of it is still going (pid $(<"$dir/pid"))"
    exit 1
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  # Its own session, so ctest's end of this test does not end it, and none of ctest's pipes (ctest
  # reads a test's output until every holder closes it); the status file is written when the
  # scenario exits, whatever its status.
  E2E_BACKGROUND_READY=$dir/ready setsid bash -c '"$@" >"$0/output" 2>&1; echo $? >"$0/status"' "$dir" "$@" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/pid"
  echo "started $* in the background (pid $!); output in $dir/output"
  deadline=$((SECONDS + ${BACKGROUND_SETUP_TIMEOUT:-150}))
  until [[ -f $dir/ready ]]; do
    if [[ -f $dir/status ]] || ((SECONDS >= deadline)); then
      cat "$dir/output" 2>/dev/null || true
      echo "FAIL the background scenario did not finish its setup (exited, or more than ${BACKGROUND_SETUP_TIMEOUT:-150} s)"
      exit 1
    fi
    sleep 1
  done
  echo "its setup is done after $SECONDS s; it goes on in the background"
  ;;
wait)
  (($# == 0)) || usage
  [[ -f $dir/pid ]] || {
    echo "FAIL $dir: never started (run its start test first)"
    exit 1
  }
  pid=$(<"$dir/pid")
  waited=$SECONDS
  until [[ -f $dir/status ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      sleep 1 # the status file is written just before the process exits
      [[ -f $dir/status ]] && break
      cat "$dir/output" 2>/dev/null || true
      echo "FAIL the background scenario (pid $pid) exited without a status: killed?"
      exit 1
    fi
    sleep 2
  done
  echo "---- waited $((SECONDS - waited)) s for the background scenario"
  cat "$dir/output"
  exit "$(<"$dir/status")"
  ;;
*) usage ;;
esac
