#!/usr/bin/env python3
"""Validates `bench export argo|k8s` output strictly, with no cluster: Kubernetes objects
against the official OpenAPI schemas (PyPI's kubernetes-validate, --strict: unknown fields are
errors), Argo Workflows against a JSON Schema generated from hera's models of Argo's API, made
strict (every object schema closed: unknown fields are errors).

    validate_k8s.py FILE...   # JSON documents, separated by lines of `---`

Prints one line per document and exits 1 at the first invalid one.
"""
import json
import sys

import jsonschema
import kubernetes_validate
from hera.workflows.models import Workflow

K8S_VERSION = "1.30.0"


def closed(schema):
    """Every object schema that lists properties accepts no others."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for v in schema.values():
            closed(v)
    elif isinstance(schema, list):
        for v in schema:
            closed(v)
    return schema


def documents(path):
    text = open(path).read()
    chunk = []
    for line in text.splitlines():
        if line.strip() == "---":
            if "".join(chunk).strip():
                yield json.loads("\n".join(chunk))
            chunk = []
        else:
            chunk.append(line)
    if "".join(chunk).strip():
        yield json.loads("\n".join(chunk))


def main():
    argo = None
    n = 0
    for path in sys.argv[1:]:
        for doc in documents(path):
            n += 1
            kind = doc.get("kind")
            name = doc.get("metadata", {}).get("name") or doc.get("metadata", {}).get("generateName")
            if kind == "Workflow":
                if argo is None:
                    argo = jsonschema.Draft202012Validator(
                        closed(Workflow.model_json_schema(by_alias=True))
                    )
                errors = sorted(argo.iter_errors(doc), key=lambda e: list(e.path))
                if errors:
                    for e in errors[:10]:
                        print(f"{path}: {kind} {name}: {'/'.join(map(str, e.path))}: {e.message}")
                    sys.exit(1)
                # Structure the schema cannot say: task names unique, dependencies exist.
                for t in doc["spec"]["templates"]:
                    if "dag" in t:
                        names = [x["name"] for x in t["dag"]["tasks"]]
                        if len(names) != len(set(names)):
                            print(f"{path}: duplicate task names"); sys.exit(1)
                        known = set(names)
                        for x in t["dag"]["tasks"]:
                            for d in x.get("dependencies", []):
                                if d not in known:
                                    print(f"{path}: task {x['name']} depends on unknown {d}"); sys.exit(1)
                templates = {t["name"] for t in doc["spec"]["templates"]}
                for t in doc["spec"]["templates"]:
                    for x in t.get("dag", {}).get("tasks", []):
                        if x["template"] not in templates:
                            print(f"{path}: task {x['name']} uses unknown template {x['template']}"); sys.exit(1)
            else:
                try:
                    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                except kubernetes_validate.ValidationError as e:
                    print(f"{path}: {kind} {name}: {'/'.join(map(str, e.path))}: {e.message}")
                    sys.exit(1)
            print(f"valid: {kind} {name}")
    if n == 0:
        print("no documents")
        sys.exit(1)


if __name__ == "__main__":
    main()
