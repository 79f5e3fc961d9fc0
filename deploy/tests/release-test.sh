#!/usr/bin/env bash
# Runs deploy/release.sh against deploy/tests/fake-kubectl in five scenarios and checks what it
# did: a good release switches traffic; a failed migration changes nothing else; a failed preview
# smoke test never switches and scales the new colour down; a failed smoke test after the switch
# switches back; --rollback moves traffic back; the first release after --install goes to the
# colour the Services already select; the CronJob of a colour that is not live stays suspended.
# No cluster needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGE=registry.example.com/mooninsurance/moon@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
export KUBECTL="$ROOT/deploy/tests/fake-kubectl"
FAKE_STATE="$(mktemp -d -t moon-release-test.XXXXXX)"
export FAKE_STATE
trap 'rm -rf "$FAKE_STATE"' EXIT
failures=0

# scenario NAME EXPECTED_EXIT EXPECTED_LIVE_COLOUR LOG_MUST_MATCH LOG_MUST_NOT_MATCH [SETUP...]
# SETUP: `first` (after --install: the Services select blue, no Deployments exist yet),
# `cronjobs` (the aggregator-cronjob component is installed), `--colour C` (passed on).
scenario() {
    local name=$1 want_rc=$2 want_colour=$3 must=$4 must_not=$5 rc=0 colour args=() setup
    shift 5
    setup="$*"
    echo blue >"$FAKE_STATE/colour"
    echo "$name" >"$FAKE_STATE/scenario"
    echo blue >"$FAKE_STATE/deployed"
    rm -f "$FAKE_STATE/cronjobs"
    while (($#)); do
        case $1 in
        first) : >"$FAKE_STATE/deployed" ;;
        cronjobs) : >"$FAKE_STATE/cronjobs" ;;
        --colour) args+=(--colour "$2"); shift ;;
        esac
        shift
    done
    : >"$FAKE_STATE/log"
    bash "$ROOT/deploy/release.sh" --image "$IMAGE" --timeout 10 "${args[@]}" >"$FAKE_STATE/out" 2>&1 || rc=$?
    colour="$(cat "$FAKE_STATE/colour")"
    if ((rc != want_rc)) || [[ $colour != "$want_colour" ]] || ! grep -qE "$must" "$FAKE_STATE/log" ||
        { [[ -n $must_not ]] && grep -qE "$must_not" "$FAKE_STATE/log"; }; then
        echo "FAIL $name${setup:+ ($setup)}: exit $rc (want $want_rc), live colour $colour (want $want_colour)"
        echo "---- release.sh output"; cat "$FAKE_STATE/out"
        echo "---- kubectl calls"; cat "$FAKE_STATE/log"
        failures=$((failures + 1))
    else
        echo "ok   $name${setup:+ ($setup)}: exit $rc, traffic on $colour"
    fi
}

scenario good 0 green 'patch service moon-web .*green' ''
scenario migration-fails 1 blue 'get job moon-migrate-green' 'rollout status|patch service'
scenario preview-fails 1 blue 'scale deployment moon-web-green --replicas=0' 'patch service'
scenario active-fails 1 blue 'patch service moon-web .*green' 'scale deployment'
# The runbook's first installation: --install made the Services select blue, then
# `--colour blue` (or no --colour) releases to blue although the Services already name it.
scenario good 0 blue 'rollout status deployment moon-web-blue' 'patch service .*green|moon-[a-z]+-green ' first --colour blue
scenario good 0 blue 'rollout status deployment moon-web-blue' 'patch service .*green|moon-[a-z]+-green ' first
# With the nightly CronJob: the switch unsuspends the new colour's and suspends the old one's; an
# abandoned colour's CronJob is suspended, so the rejected image never runs from it.
scenario good 0 green 'patch cronjob moon-aggregate-green .*"suspend":false' 'patch cronjob moon-aggregate-blue .*"suspend":false' cronjobs
scenario preview-fails 1 blue 'patch cronjob moon-aggregate-green .*"suspend":true' 'patch cronjob moon-aggregate-green .*"suspend":false' cronjobs
scenario active-fails 1 blue 'patch cronjob moon-aggregate-blue .*"suspend":false' '' cronjobs
# --rollback from green brings blue back up and points the active Services at it.
echo green >"$FAKE_STATE/colour"
echo good >"$FAKE_STATE/scenario"
printf 'blue\ngreen\n' >"$FAKE_STATE/deployed"
: >"$FAKE_STATE/log"
if bash "$ROOT/deploy/release.sh" --rollback --timeout 10 >"$FAKE_STATE/out" 2>&1 &&
    [[ "$(cat "$FAKE_STATE/colour")" == blue ]] && grep -q 'rollout status deployment moon-web-blue' "$FAKE_STATE/log"; then
    echo "ok   rollback: traffic on blue"
else
    echo "FAIL rollback"; cat "$FAKE_STATE/out" "$FAKE_STATE/log"
    failures=$((failures + 1))
fi

((failures == 0)) || { echo "$failures release scenario(s) failed"; exit 1; }
