# Check helpers the CLI scripts share (sourced): counters, and expectations on one command run.
# The caller runs in its own work dir (out.txt and err.txt are written there).
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

# expect_ok NAME CMD... : the command exits 0.
expect_ok() {
  local name=$1; shift
  if "$@" >out.txt 2>err.txt; then pass "$name"; else fail "$name: exit $? stderr: $(cat err.txt)"; fi
}
# expect_fail NAME CODE MESSAGE CMD... : exits with CODE, writes nothing to stdout, and stderr
# starts with certwright's one error line and contains MESSAGE.
expect_fail() {
  local name=$1 code=$2 message=$3; shift 3
  "$@" >out.txt 2>err.txt
  local rc=$?
  if [ "$rc" != "$code" ]; then fail "$name: exit $rc, want $code; stderr: $(cat err.txt)"; return; fi
  if ! grep -qF -- "$message" err.txt; then fail "$name: stderr lacks '$message': $(cat err.txt)"; return; fi
  if ! head -n1 err.txt | grep -q '^certwright: error: '; then fail "$name: first line is not an error line: $(cat err.txt)"; return; fi
  if [ -s out.txt ]; then fail "$name: wrote to stdout on failure"; return; fi
  pass "$name"
}
