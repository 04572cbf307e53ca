#!/bin/sh
# The scale-out recipes parse and say what docs/scale-out.md says: the
# Kubernetes Indexed Job (YAML, with PyYAML) and the AWS Batch job
# definition and array submission (JSON). Each worker's command is a
# `run` with --coordinate, --no-undo and --yes.
set -eu
cd "$(dirname "$0")/../.."
python3 - <<'PY'
import json, sys, yaml

def worker_command(cmd, where):
    assert cmd[0] == "run", where + ": the command is mighost run"
    assert "--coordinate" in cmd and "--yes" in cmd, where + ": --coordinate TABLE and --yes"
    assert "--no-undo" in cmd, where + ": --no-undo (a shared run keeps no undo journal)"

docs = list(yaml.safe_load_all(open("examples/scale-out/k8s-job.yaml")))
assert len(docs) == 1, "one document"
job = docs[0]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", "a batch/v1 Job"
spec = job["spec"]
assert spec["completionMode"] == "Indexed", "an Indexed Job"
assert spec["completions"] == spec["parallelism"] >= 2, "N pods at once"
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never"
c = pod["containers"][0]
worker_command(c["args"], "k8s-job.yaml")
assert "$(JOB_COMPLETION_INDEX)" in c["args"], "the index is the worker id"

jd = json.load(open("examples/scale-out/batch-job-definition.json"))
assert jd["type"] == "container"
worker_command(jd["containerProperties"]["command"], "batch-job-definition.json")
sub = json.load(open("examples/scale-out/batch-submit-job.json"))
assert sub["jobDefinition"] == jd["jobDefinitionName"], "the submission names the definition"
assert sub["arrayProperties"]["size"] >= 2, "an array job"
print("scale-out examples: ok")
PY
