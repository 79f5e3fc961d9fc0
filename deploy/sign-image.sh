#!/usr/bin/env bash
# Signs an image by digest with cosign keyless signing (Sigstore: an OIDC identity, no key to
# keep), then verifies the signature against that identity, so a signing that silently did
# nothing fails here rather than at admission.
#
#   deploy/sign-image.sh REPO@sha256:DIGEST IDENTITY
#
# IDENTITY is the certificate identity to require, in GitHub Actions
# "$GITHUB_SERVER_URL/$GITHUB_WORKFLOW_REF". Needs cosign 3.x and an OIDC token (CI's id-token).
set -euo pipefail

image=${1:?usage: sign-image.sh REPO@sha256:DIGEST IDENTITY}
identity=${2:?usage: sign-image.sh REPO@sha256:DIGEST IDENTITY}
[[ $image == *@sha256:* ]] || {
    echo "sign-image: sign by digest, not by tag: $image" >&2
    exit 1
}

cosign sign --yes "$image"
cosign verify "$image" \
    --certificate-identity "$identity" \
    --certificate-oidc-issuer https://token.actions.githubusercontent.com >/dev/null
echo "signed and verified: $image"
