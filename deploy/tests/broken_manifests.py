#!/usr/bin/env python3
"""The validator must refuse broken manifests: each case breaks one of deploy/kubernetes's real
manifests in one way, writes it to a temporary file, and requires validate-manifests to exit 1
naming the problem. Also requires the real manifests to pass. Run with deploy/check's venv."""

import copy
import pathlib
import subprocess
import sys
import tempfile

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent.parent
MANIFESTS = DEPLOY / "kubernetes"
VALIDATE = DEPLOY / "validate-manifests"


def load(name):
    return [d for d in yaml.safe_load_all((MANIFESTS / name).read_text()) if d]


def pod_spec(docs):
    return docs[0]["spec"]["template"]["spec"]


def nad_and_pod():
    return load("multus-example.yaml")


def case_unknown_field(docs):
    pod_spec(docs)["hostNetwrok"] = True          # a typo: strict validation refuses it


def case_wrong_type(docs):
    pod_spec(docs)["tolerations"] = "all"


def case_missing_selector(docs):
    del docs[0]["spec"]["selector"]


def case_privileged_not_boolean(docs):
    pod_spec(docs)["containers"][0]["securityContext"]["privileged"] = "yes"


def case_hostpath_type_unknown(docs):
    pod_spec(docs)["volumes"][0]["hostPath"] = {"path": "/opt/cni/bin", "kind": "Directory"}


def case_config_not_json(docs):
    docs[0]["spec"]["config"] = '{"cniVersion": "1.0.0", "name": "x", "plugins": [}'


def case_config_an_object(docs):
    docs[0]["spec"]["config"] = {"cniVersion": "1.0.0"}


def case_config_without_plugins(docs):
    docs[0]["spec"]["config"] = '{"cniVersion": "1.0.0", "name": "vlan-chaining-example"}'


def case_nad_spec_typo(docs):
    docs[0]["spec"]["confg"] = docs[0]["spec"].pop("config")


def case_nad_bad_metadata(docs):
    docs[0]["metadata"]["labels"] = ["not", "a", "map"]


def case_pod_names_unknown_network(docs):
    docs[1]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = "no-such-network"


def case_unknown_kind(docs):
    docs[0]["kind"] = "DaemonSett"


CASES = [
    ("installer.yaml", case_unknown_field, "('hostNetwrok' was unexpected)"),
    ("installer.yaml", case_wrong_type, "spec.template.spec.tolerations: 'all' is not of type"),
    ("conformance.yaml", case_missing_selector, "'selector' is a required property"),
    ("conformance.yaml", case_privileged_not_boolean, "'yes' is not of type"),
    ("installer.yaml", case_hostpath_type_unknown, "('kind' was unexpected)"),
    ("multus-example.yaml", case_config_not_json, "spec.config is not JSON"),
    ("multus-example.yaml", case_config_an_object, "spec.config: {'cniVersion': '1.0.0'} is not of type 'string'"),
    ("multus-example.yaml", case_config_without_plugins, "'plugins' must be a non-empty list"),
    ("multus-example.yaml", case_nad_spec_typo, "('confg' was unexpected)"),
    ("multus-example.yaml", case_nad_bad_metadata, "metadata.labels"),
    ("multus-example.yaml", case_pod_names_unknown_network, "names default/no-such-network"),
    ("installer.yaml", case_unknown_kind, "no schema for it"),
]


def validate(paths):
    return subprocess.run([sys.executable, str(VALIDATE), *map(str, paths)],
                          capture_output=True, text=True)


def main():
    real = validate(sorted(MANIFESTS.glob("*.yaml")))
    if real.returncode != 0:
        print(real.stdout + real.stderr)
        sys.exit("broken_manifests: the real manifests do not validate")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for source, breaker, expected in CASES:
            docs = copy.deepcopy(load(source))
            breaker(docs)
            path = pathlib.Path(tmp) / ("%s-%s" % (breaker.__name__, source))
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
            result = validate([path])
            errors = [l for l in result.stdout.splitlines() if l.startswith("ERROR")]
            if result.returncode == 1 and any(expected in l for l in errors):
                print("refused as expected: %s (%s): %s" % (breaker.__name__, source, errors[0]))
            else:
                failed += 1
                print("NOT REFUSED AS EXPECTED: %s (%s): exit %d, wanted an ERROR line with %r; "
                      "output:\n%s%s" % (breaker.__name__, source, result.returncode, expected,
                                         result.stdout, result.stderr))
    if failed:
        sys.exit("broken_manifests: %d of %d broken manifests were not refused" % (failed, len(CASES)))
    print("broken_manifests: all %d broken manifests refused; the real ones pass" % len(CASES))


if __name__ == "__main__":
    main()
