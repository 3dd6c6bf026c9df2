#!/usr/bin/env python3
"""Validates the Kubernetes manifests without a cluster: every document parses as YAML, has the
fields Kubernetes requires for its kind, and the pieces fit together (selectors match labels,
Services target declared ports, the Deployment takes its environment from the ConfigMap and its
pod id from the downward API, probes and graceful shutdown are wired). Run by `make
examples-build` (CI). Exit status 1 with one line per problem."""
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
problems = []


def need(condition, message):
    if not condition:
        problems.append(message)


documents = []
for name in sorted(os.listdir(HERE)):
    if name.endswith(".yaml"):
        with open(os.path.join(HERE, name)) as file:
            for document in yaml.safe_load_all(file):
                if document is not None:
                    documents.append((name, document))

by_kind = {}
for name, document in documents:
    where = f"{name}: {document.get('kind')} {document.get('metadata', {}).get('name')}"
    for field in ("apiVersion", "kind", "metadata"):
        need(field in document, f"{where}: no {field}")
    need(bool(document.get("metadata", {}).get("name")), f"{where}: no metadata.name")
    by_kind.setdefault(document.get("kind"), []).append((where, document))

for where, deployment in by_kind.get("Deployment", []):
    need(deployment.get("apiVersion") == "apps/v1", f"{where}: apiVersion must be apps/v1")
    spec = deployment.get("spec", {})
    selector = spec.get("selector", {}).get("matchLabels", {})
    labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
    need(selector and all(labels.get(k) == v for k, v in selector.items()), f"{where}: selector does not match the pod labels")
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    need(containers, f"{where}: no containers")
    for container in containers:
        need(container.get("name") and container.get("image"), f"{where}: a container needs a name and an image")

services = by_kind.get("Service", [])
for where, service in services:
    need(service.get("apiVersion") == "v1", f"{where}: apiVersion must be v1")
    selector = service.get("spec", {}).get("selector", {})
    targets = [d for _, d in by_kind.get("Deployment", [])
               if all(d["spec"]["template"]["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]
    need(targets, f"{where}: selects no Deployment's pods")
    for port in service.get("spec", {}).get("ports", []):
        need("port" in port, f"{where}: a port without port")
        target = port.get("targetPort", port.get("port"))
        declared = [p for d in targets for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
        need(any(target in (p.get("name"), p.get("containerPort")) for p in declared), f"{where}: targetPort {target} is no container port")

configmaps = {d["metadata"]["name"]: d for _, d in by_kind.get("ConfigMap", [])}
for where, deployment in by_kind.get("Deployment", []):
    if deployment["metadata"]["name"] != "heavy-read-api":
        continue
    spec = deployment["spec"]
    need(spec.get("replicas") == 3, f"{where}: the example runs 3 replicas")
    pod = spec["template"]["spec"]
    need(pod.get("terminationGracePeriodSeconds", 0) >= 10, f"{where}: leave time for the graceful shutdown")
    container = pod["containers"][0]
    sources = [s.get("configMapRef", {}).get("name") for s in container.get("envFrom", [])]
    need(any(s in configmaps for s in sources), f"{where}: envFrom names no ConfigMap of these manifests")
    pod_id = [e for e in container.get("env", []) if e.get("name") == "CACHE_POD_ID"]
    need(pod_id and pod_id[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
         f"{where}: CACHE_POD_ID must come from metadata.name (downward API)")
    need(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", f"{where}: readiness probe on /readyz")
    need(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", f"{where}: liveness probe on /healthz")
    for source in sources:
        data = configmaps.get(source, {}).get("data", {})
        need("CACHE_REDIS_ADDR" in data, f"{where}: the ConfigMap sets no CACHE_REDIS_ADDR")
        need(all(isinstance(v, str) for v in data.values()), f"{where}: ConfigMap values must be strings")
        for key in data:
            need(key.startswith("CACHE_") or key in ("BIND_ADDRESS", "PORT"), f"{where}: unknown variable {key}")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(documents)} manifests valid")
