#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests for the settings a release depends on.

Usage: check-manifests.py RENDERED.yaml...

1. Every pod template (Deployment, Job, CronJob) runs as the image's non-root user with the same
   securityContext: runAsNonRoot, runAsUser/runAsGroup/fsGroup 65532 (fsGroup makes the 0440
   Secret volumes readable; without it `moon migrate` cannot read its database URL), the
   RuntimeDefault seccomp profile; every container a read-only root filesystem, no privilege
   escalation and every capability dropped.
2. Every Secret volume is mounted with defaultMode 0440 (owner and fsGroup read, nothing else).
3. The moon-config ConfigMap trusts the ingress controller's X-Forwarded-For (MOON_TRUSTED_PROXIES
   holds addresses or CIDRs) and marks cookies Secure (MOON_SECURE_COOKIES=true): TLS ends at the
   Ingress, so without them every user shares one sign-in bucket and cookies travel unmarked.
"""

import ipaddress
import sys

import yaml

from checklib import finish

UID = 65532
SECRET_MODE = 0o440


def pod_templates(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield spec.get("template") or {}
    elif kind == "CronJob":
        yield ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    elif kind == "Pod":
        yield doc


def check_pod(where, template, errors):
    spec = template.get("spec") or {}
    pod = spec.get("securityContext") or {}
    want = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID}
    for key, value in want.items():
        if pod.get(key) != value:
            errors.append(f"{where}: pod securityContext.{key} is {pod.get(key)!r}, not {value!r}")
    if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        errors.append(f"{where}: pod securityContext.seccompProfile.type is not RuntimeDefault")
    containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
    if not containers:
        errors.append(f"{where}: no containers")
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            errors.append(f"{cw}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            errors.append(f"{cw}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            errors.append(f"{cw}: privileged")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            errors.append(f"{cw}: capabilities.drop does not include ALL")
        if (sc.get("capabilities") or {}).get("add"):
            errors.append(f"{cw}: adds capabilities {sc['capabilities']['add']}")
        for key in ("runAsNonRoot", "runAsUser", "runAsGroup"):
            if key in sc and sc[key] != want[key]:
                errors.append(f"{cw}: securityContext.{key} {sc[key]!r} overrides the pod's {want[key]!r}")
        seccomp = (sc.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            errors.append(f"{cw}: seccomp profile {seccomp!r}, not RuntimeDefault")
    for v in spec.get("volumes") or []:
        if "secret" in v:
            mode = v["secret"].get("defaultMode")
            if mode != SECRET_MODE:
                shown = "unset (0644)" if mode is None else oct(mode)
                errors.append(f"{where}: Secret volume {v.get('name')} has defaultMode {shown}, not 0440")


def check_config(where, doc, errors):
    data = doc.get("data") or {}
    proxies = [p.strip() for p in str(data.get("MOON_TRUSTED_PROXIES", "")).split(",") if p.strip()]
    if not proxies:
        errors.append(f"{where}: MOON_TRUSTED_PROXIES is not set, so X-Forwarded-For from the Ingress is ignored")
    for p in proxies:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            errors.append(f"{where}: MOON_TRUSTED_PROXIES entry {p!r} is not an address or CIDR")
    if str(data.get("MOON_SECURE_COOKIES", "")).lower() != "true":
        errors.append(f"{where}: MOON_SECURE_COOKIES is not true (TLS ends at the Ingress)")


def main():
    errors, pods, configs = [], 0, 0
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            name = (doc.get("metadata") or {}).get("name")
            where = f"{path}: {doc.get('kind')} {name}"
            for template in pod_templates(doc):
                pods += 1
                check_pod(where, template, errors)
            if doc.get("kind") == "ConfigMap" and str(name).startswith("moon-config"):
                configs += 1
                check_config(where, doc, errors)
    if pods == 0:
        errors.append("no pod template found in the rendered manifests")
    if configs == 0:
        errors.append("no moon-config ConfigMap found in the rendered manifests")
    finish(errors, f"{pods} pod templates and {configs} moon-config ConfigMaps hold the security settings")


if __name__ == "__main__":
    main()
