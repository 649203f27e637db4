# shellcheck shell=bash
# Sourced by tests that drive tpm2-tools on swtpm.
#
# tidy: without a resource manager (direct mode) tpm2-tools leave their
# objects and sessions loaded, and swtpm has three object slots.
tidy() {
  tpm2_flushcontext -t > /dev/null 2>&1 || true
  tpm2_flushcontext -s > /dev/null 2>&1 || true
}
# ek_cmd CMD...: CMD with the EK authorized by PolicySecret(endorsement)
# (the TCG EK policy), the session passed as "session:ek.sess" (in the
# current directory). CMD's output is dropped; errors go to stderr.
ek_cmd() {
  local rc=0
  tpm2_startauthsession --policy-session -S ek.sess > /dev/null || return 1
  tpm2_policysecret -S ek.sess -c e > /dev/null || rc=1
  if [ "$rc" -eq 0 ]; then "$@" > /dev/null || rc=$?; fi
  tpm2_flushcontext ek.sess > /dev/null 2>&1 || true
  tidy
  return "$rc"
}
