#!/usr/bin/env bash
# Blue-green release of MoonInsurance on plain Kubernetes (docs/adr/0004-blue-green-release.md).
#
#   deploy/release.sh --image REPO@sha256:DIGEST            release to the idle colour
#   deploy/release.sh --rollback                             send traffic back to the other colour
#   deploy/release.sh --install                              first time: namespace-wide objects
#   deploy/release.sh --dry-run [--image ...]                print every step; needs no cluster
#   deploy/release.sh --render blue|green [--image ...]      print the manifests a release applies
#
# A release: find the live colour from the active Services -> render the idle colour's overlay
# with the new image -> run its migration Job (expand/contract: the live colour keeps working) ->
# roll out its Deployments and wait for readiness -> smoke-test it through its own (preview)
# Services -> switch the active Services' selectors to it -> smoke-test through the active
# Services, and switch back at once if that fails. The old colour keeps running for an instant
# `--rollback`. If the new colour fails before the switch, its Deployments are scaled to zero and
# traffic never moved.
#
# Options:
#   --namespace NS       (default: moon, or $MOON_NAMESPACE)
#   --image REF          the image, by digest, for the new colour (required for a release)
#   --colour blue|green  the colour to release to (default: the one not live)
#   --timeout SECONDS    per wait: migration, each rollout (default 300)
#   --dry-run            print the kubectl commands instead of running them (rendering still runs,
#                        so the manifests are checked); assumes blue is live unless --colour says
# Environment: KUBECTL (default kubectl), SMOKE_TOKEN_SECRET (default moon-smoke-token: a Secret
# with key `token`, sent as a bearer token to the original routes).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="$ROOT/deploy/k8s"
KUBECTL=${KUBECTL:-kubectl}
NAMESPACE=${MOON_NAMESPACE:-moon}
SMOKE_TOKEN_SECRET=${SMOKE_TOKEN_SECRET:-moon-smoke-token}
TARGETS=(agent integration notification web aggregator)
COLOUR_LABEL=mooninsurance.example/colour
IMAGE="" COLOUR="" TIMEOUT=300 DRY_RUN=0 MODE=release

die() {
    printf 'release: %s\n' "$*" >&2
    exit 1
}
step() { printf '\n== %s\n' "$*"; }

while (($#)); do
    case $1 in
    --namespace) NAMESPACE=${2:?--namespace needs a value}; shift 2 ;;
    --image) IMAGE=${2:?--image needs a value}; shift 2 ;;
    --colour) COLOUR=${2:?--colour needs a value}; shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    --rollback) MODE=rollback; shift ;;
    --install) MODE=install; shift ;;
    --render) MODE=render; COLOUR=${2:?--render needs a colour}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ -z $COLOUR || $COLOUR == blue || $COLOUR == green ]] || die "--colour must be blue or green"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds"

# Runs kubectl against the namespace, or prints the command on a dry run.
k() {
    if ((DRY_RUN)); then
        printf '+ %s -n %s %s\n' "$KUBECTL" "$NAMESPACE" "$*"
    else
        "$KUBECTL" -n "$NAMESPACE" "$@"
    fi
}

other() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

# The colour the active Services select now (empty before the first release).
live_colour() {
    if ((DRY_RUN)); then
        echo blue
        return
    fi
    "$KUBECTL" -n "$NAMESPACE" get service moon-web -o "jsonpath={.spec.selector.${COLOUR_LABEL//./\\.}}" 2>/dev/null || true
}

# True when COLOUR has a nightly KPI CronJob (only with the aggregator-cronjob component).
has_cronjob() {
    ((DRY_RUN)) || "$KUBECTL" -n "$NAMESPACE" get cronjob "moon-aggregate-$1" >/dev/null 2>&1
}

# Suspends COLOUR's CronJob, if it has one.
suspend_cronjob() {
    if has_cronjob "$1"; then
        k patch cronjob "moon-aggregate-$1" --type merge -p '{"spec":{"suspend":true}}'
    fi
}

# Points every active Service at COLOUR.
switch_to() {
    local colour=$1 t
    for t in "${TARGETS[@]}"; do
        k patch service "moon-$t" --type merge -p "{\"spec\":{\"selector\":{\"$COLOUR_LABEL\":\"$colour\"}}}"
    done
    # Only the live colour's nightly KPI job runs. The manifests create every CronJob suspended,
    # so a colour being released never runs its image's job before it takes traffic.
    if has_cronjob "$colour"; then
        k patch cronjob "moon-aggregate-$colour" --type merge -p '{"spec":{"suspend":false}}'
    fi
    suspend_cronjob "$(other "$colour")" || true
}

# Waits until Job NAME has completed; fails as soon as it has failed, or after TIMEOUT seconds.
wait_for_job() {
    local name=$1 deadline=$((SECONDS + TIMEOUT)) state
    if ((DRY_RUN)); then
        printf '+ %s -n %s get job %s (until Complete or Failed, at most %ss)\n' "$KUBECTL" "$NAMESPACE" "$name" "$TIMEOUT"
        return 0
    fi
    while ((SECONDS < deadline)); do
        state="$("$KUBECTL" -n "$NAMESPACE" get job "$name" -o 'jsonpath={.status.conditions[?(@.status=="True")].type}')" ||
            return 1
        case " $state " in
        *" Complete "*) return 0 ;;
        *" Failed "*) return 1 ;;
        esac
        sleep 3
    done
    echo "job $name did not finish within ${TIMEOUT}s" >&2
    return 1
}

# Renders COLOUR's overlay with IMAGE into FILE.
render() {
    local colour=$1 file=$2 dir
    dir="$(mktemp -d)"
    cat >"$dir/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$dir" "$K8S/overlays/$colour")
EOF
    if [[ -n $IMAGE ]]; then
        local name=${IMAGE%@*} digest=${IMAGE#*@}
        [[ $IMAGE == *@sha256:* ]] || die "--image must name a digest (REPO@sha256:...), got $IMAGE"
        printf 'images:\n  - name: registry.example.com/mooninsurance/moon\n    newName: %s\n    digest: %s\n' \
            "$name" "$digest" >>"$dir/kustomization.yaml"
    fi
    "$KUBECTL" kustomize "$dir" >"$file" || die "rendering the $colour overlay failed"
    rm -rf "$dir"
}

# GET URL, failing unless the status is 2xx; extra curl arguments may follow.
probe() {
    local url=$1
    shift
    if ((DRY_RUN)); then
        printf '+ curl -fsS %s\n' "$url"
        return 0
    fi
    curl -fsS --max-time 10 -o /dev/null "$@" "$url" || {
        echo "smoke test: GET $url failed" >&2
        return 1
    }
    echo "smoke test: GET $url ok"
}

# A local port nobody listens on: asked of the kernel when python3 is there, else a random one.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        echo $((20000 + RANDOM % 20000))
    fi
}

# Smoke-tests the Services named moon-<target><SUFFIX> through kubectl port-forward (which the
# NetworkPolicies do not block, so no public route to a preview is needed).
smoke_test() {
    local suffix=$1 token="" t port pf rc=0
    if ((DRY_RUN)); then
        printf '+ %s -n %s get secret %s -o jsonpath={.data.token}\n' "$KUBECTL" "$NAMESPACE" "$SMOKE_TOKEN_SECRET"
    else
        token="$("$KUBECTL" -n "$NAMESPACE" get secret "$SMOKE_TOKEN_SECRET" -o 'jsonpath={.data.token}' | base64 -d)" ||
            { echo "smoke test: cannot read Secret $SMOKE_TOKEN_SECRET (key token)" >&2; return 1; }
    fi
    for t in "${TARGETS[@]}"; do
        port="$(free_port)"
        if ((DRY_RUN)); then
            printf '+ %s -n %s port-forward service/moon-%s%s %s:80 &\n' "$KUBECTL" "$NAMESPACE" "$t" "$suffix" "$port"
        else
            "$KUBECTL" -n "$NAMESPACE" port-forward "service/moon-$t$suffix" "$port:80" >/dev/null 2>&1 &
            pf=$!
            for _ in $(seq 1 50); do
                (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
                sleep 0.2
            done
        fi
        local base="http://127.0.0.1:$port"
        probe "$base/readyz" || rc=1
        probe "$base/api/v1/openapi.json" || rc=1
        if [[ $t == integration ]]; then
            # An analyst's token: proves authentication and a database read, sees no personal data.
            probe "$base/api/v1/products?limit=1" -H "Authorization: Bearer $token" || rc=1
        fi
        if ((!DRY_RUN)); then
            kill "$pf" 2>/dev/null || true
            wait "$pf" 2>/dev/null || true
        fi
        ((rc == 0)) || return 1
    done
}

case $MODE in
render)
    [[ -n $COLOUR ]] || die "--render needs blue or green"
    out="$(mktemp)"
    render "$COLOUR" "$out"
    cat "$out"
    rm -f "$out"
    exit 0
    ;;
install)
    step "install the namespace-wide objects (ServiceAccount, active Services, Ingress, NetworkPolicies)"
    k apply -k "$K8S/shared"
    exit 0
    ;;
rollback)
    live="$(live_colour)"
    [[ -n $live ]] || die "no active Services found in namespace $NAMESPACE"
    back=${COLOUR:-$(other "$live")}
    step "roll back: traffic from $live to $back"
    for t in "${TARGETS[@]}"; do
        k scale deployment "moon-$t-$back" --replicas=2
    done
    k scale deployment "moon-aggregator-$back" --replicas=1
    for t in "${TARGETS[@]}"; do
        k rollout status deployment "moon-$t-$back" --timeout "${TIMEOUT}s"
    done
    switch_to "$back"
    echo "traffic is on $back; $live keeps running"
    exit 0
    ;;
esac

((DRY_RUN)) || [[ -n $IMAGE ]] || die "--image REPO@sha256:DIGEST is required"
live="$(live_colour)"
[[ -n $live ]] || die "no active Services in namespace $NAMESPACE: run deploy/release.sh --install first"
# The first release after --install: the active Services select a colour (blue) that has no
# Deployments yet, so nothing is live and that colour may be released to.
FIRST=0
if ((!DRY_RUN)) && ! "$KUBECTL" -n "$NAMESPACE" get deployment "moon-web-$live" >/dev/null 2>&1; then
    FIRST=1
fi
if ((FIRST)); then
    new=${COLOUR:-$live}
    echo "first release: no Deployments of $live exist yet, so no colour serves traffic"
else
    new=${COLOUR:-$(other "$live")}
    [[ $new != "$live" ]] || die "$new is already live; release to the other colour"
fi
echo "live colour: $live; releasing ${IMAGE:-the image in the overlay} to $new in namespace $NAMESPACE"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MANIFEST="$WORK/$new.yaml"

step "render deploy/k8s/overlays/$new"
render "$new" "$MANIFEST"
grep -c '^kind:' "$MANIFEST" | sed 's/$/ objects rendered/'

# The new colour never took traffic: scale it to zero so it cannot be mistaken for a candidate,
# and keep its nightly KPI job (if any) suspended so the rejected image never runs from it.
abandon() {
    echo "release: $* -- traffic stays on $live; scaling $new down" >&2
    for t in "${TARGETS[@]}"; do
        k scale deployment "moon-$t-$new" --replicas=0 || true
    done
    suspend_cronjob "$new" || true
    exit 1
}

step "migrate the shared database with $new's image (moon migrate)"
k delete job "moon-migrate-$new" --ignore-not-found --cascade=foreground
k apply -f "$MANIFEST" -l '!app.kubernetes.io/component'
k apply -f "$MANIFEST" -l app.kubernetes.io/component=migrate
wait_for_job "moon-migrate-$new" ||
    die "the migration Job failed or timed out; nothing else changed (kubectl -n $NAMESPACE logs job/moon-migrate-$new)"

step "deploy $new$( ((FIRST)) || echo " beside $live") and wait for readiness"
k apply -f "$MANIFEST"
for t in "${TARGETS[@]}"; do
    k rollout status deployment "moon-$t-$new" --timeout "${TIMEOUT}s" || abandon "moon-$t-$new did not become ready"
done

step "smoke-test $new through its preview Services (moon-<target>-$new)"
smoke_test "-$new" || abandon "the smoke test of $new failed"

step "switch the active Services from $live to $new"
switch_to "$new"

step "smoke-test through the active Services"
if ! smoke_test ""; then
    if ((FIRST)); then
        echo "release: the smoke test through the active Services failed; nothing served before, so nothing to switch back to" >&2
        suspend_cronjob "$new" || true
        exit 1
    fi
    echo "release: the smoke test through the active Services failed; switching back to $live" >&2
    switch_to "$live"
    exit 1
fi

echo
if ((FIRST)); then
    echo "released: $new is live (first release)."
else
    echo "released: $new is live; $live keeps running for an instant rollback (deploy/release.sh --rollback)."
fi
