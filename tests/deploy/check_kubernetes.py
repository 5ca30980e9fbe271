#!/usr/bin/env python3
"""Checks deploy/kubernetes/ offline (docs/DISTRIBUTED.md, "Kubernetes").

Every manifest goes through kubectl without a cluster (`kubectl label --local -f FILE -o json`: kubectl's own
YAML decoding and resource builder; a server-side or schema validation needs a cluster, which this machine
does not have and must not contact), then the fields the docs rely on are checked on kubectl's JSON:
the agents' Indexed Job (JOB_COMPLETION_INDEX as --shard-hint, backoffLimitPerIndex, podFailurePolicy), the
coordinator's Service and Job (the port, the scenario from the ConfigMap, --shards = the agents' completions),
the shared token, and the Containerfile's base and entry point.

Usage: check_kubernetes.py DEPLOY_DIR   Exit 0: all good; 1: a check failed (each is printed); 77: no kubectl.
"""
import json
import os
import shutil
import subprocess
import sys

deploy = sys.argv[1]
kubectl = shutil.which("kubectl")
if kubectl is None:
    print("kubectl missing: skipped")
    sys.exit(77)

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def load(name):
    """The file's objects as kubectl decodes them, offline."""
    env = dict(os.environ, KUBECONFIG=os.devnull)
    run = subprocess.run([kubectl, "label", "--local", "-f", os.path.join(deploy, name), "-o", "json",
                          "stampede.checked=yes"], capture_output=True, text=True, env=env, timeout=60)
    if run.returncode != 0:
        failures.append(f"{name}: kubectl cannot read it: {run.stderr.strip()}")
        return []
    # One JSON document per object, one after the other (or a List).
    decoder, text, at, out = json.JSONDecoder(), run.stdout, 0, []
    while text[at:].strip():
        doc, end = decoder.raw_decode(text, at + len(text[at:]) - len(text[at:].lstrip()))
        out += doc["items"] if doc.get("kind") == "List" else [doc]
        at = end
    return out


def find(objects, kind, name):
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"] == name:
            return o
    failures.append(f"no {kind} {name}")
    return None


def flag(args, name):
    """The value after `name` in a container's args, or None."""
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None


def env_of(container, name):
    return next((e for e in container.get("env", []) if e["name"] == name), None)


objects = []
for name in sorted(os.listdir(deploy)):
    if name.endswith(".yaml"):
        objects += load(name)

configmap = find(objects, "ConfigMap", "stampede-scenario")
service = find(objects, "Service", "stampede-coordinator")
coordinator = find(objects, "Job", "stampede-coordinator")
agents = find(objects, "Job", "stampede-agents")
if None in (configmap, service, coordinator, agents):
    print("\n".join(failures))
    sys.exit(1)

# The scenario.
check("scenario.lua" in configmap["data"], "the ConfigMap has no scenario.lua")
check("options" in configmap["data"].get("scenario.lua", ""), "scenario.lua sets no options")

# The coordinator: `stampede coordinate SCENARIO --shards N --listen 0.0.0.0:PORT`, once, never retried.
c_spec = coordinator["spec"]
c_pod = c_spec["template"]["spec"]
c = c_pod["containers"][0]
c_args = c["args"]
check(c_args[0] == "coordinate", f"the coordinator runs {c_args[0]!r}, not coordinate")
check(c_spec.get("backoffLimit") == 0, "the coordinator's Job may retry (backoffLimit != 0)")
check(c_pod.get("restartPolicy") == "Never", "the coordinator's pod may restart")
listen = flag(c_args, "--listen") or ""
port = int(listen.rsplit(":", 1)[1]) if ":" in listen else None
check(listen.startswith("0.0.0.0:"), f"--listen {listen!r}: not on every interface of the pod")
shards = int(flag(c_args, "--shards") or 0)
check(shards > 0, "no --shards")
for f in ("--out", "--report", "--token"):
    check(flag(c_args, f) is not None, f"the coordinator has no {f}")
mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
volumes = {v["name"]: v for v in c_pod.get("volumes", [])}
scenario_volume = next((n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "stampede-scenario"), None)
check(scenario_volume is not None, "the coordinator does not mount the ConfigMap")
if scenario_volume:
    check(c_args[1] == mounts.get(scenario_volume, "?") + "/scenario.lua",
          f"the coordinator's scenario {c_args[1]!r} is not the ConfigMap's scenario.lua")
c_ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}

# The Service: selects the coordinator's pod, on its --listen port.
labels = coordinator["spec"]["template"]["metadata"]["labels"]
selector = service["spec"]["selector"]
check(all(labels.get(k) == v for k, v in selector.items()), "the Service does not select the coordinator's pod")
s_port = service["spec"]["ports"][0]
target = s_port.get("targetPort")
check(c_ports.get(target, target) == port, f"the Service's targetPort {target!r} is not --listen's port {port}")
# The live dashboard, when the coordinator serves one: a container port and a Service port lead to it.
dashboard = flag(c_args, "--dashboard")
if dashboard is not None:
    d_port = int(dashboard.rsplit(":", 1)[1])
    check(d_port != port, "--dashboard and --listen share a port")
    d_service = [p for p in service["spec"]["ports"] if c_ports.get(p.get("targetPort"), p.get("targetPort")) == d_port]
    check(len(d_service) == 1, f"no Service port leads to the dashboard's port {d_port}")

# The agents: an Indexed Job, one pod per shard, JOB_COMPLETION_INDEX as --shard-hint, no silent re-run.
a_spec = agents["spec"]
a_pod = a_spec["template"]["spec"]
a = a_pod["containers"][0]
a_args = a["args"]
check(a_args[0] == "agent", f"the agents run {a_args[0]!r}, not agent")
check(a_spec.get("completionMode") == "Indexed", "the agents' Job is not Indexed")
check(a_spec.get("completions") == shards, f"completions {a_spec.get('completions')} != --shards {shards}")
check(a_spec.get("parallelism") == shards, f"parallelism {a_spec.get('parallelism')} != --shards {shards} "
      "(every shard must run at once: the coordinator's barrier waits for all)")
check(flag(a_args, "--shard-hint") == "$(JOB_COMPLETION_INDEX)", "--shard-hint is not $(JOB_COMPLETION_INDEX)")
index_env = env_of(a, "JOB_COMPLETION_INDEX")
check(index_env is not None and "batch.kubernetes.io/job-completion-index" in json.dumps(index_env),
      "JOB_COMPLETION_INDEX is not declared from the completion index annotation")
expected_url = f"http://{service['metadata']['name']}:{s_port['port']}"
check(flag(a_args, "--coordinator") == expected_url, f"--coordinator {flag(a_args, '--coordinator')!r} != {expected_url}")
check(a_spec.get("backoffLimitPerIndex") == 0, "backoffLimitPerIndex is not 0: a failed shard would be re-run")
check(a_spec.get("maxFailedIndexes") == 0, "maxFailedIndexes is not 0")
check(a_pod.get("restartPolicy") == "Never", "the agents' restartPolicy is not Never (podFailurePolicy needs it)")
rules = a_spec.get("podFailurePolicy", {}).get("rules", [])
fail_index = [r for r in rules if r["action"] == "FailIndex" and "onExitCodes" in r]
check(any(r["onExitCodes"]["operator"] == "NotIn" and r["onExitCodes"]["values"] == [0] for r in fail_index),
      "no podFailurePolicy rule fails the index on a non-zero exit")
check(any(r["action"] == "Ignore" and any(c["type"] == "DisruptionTarget" for c in r.get("onPodConditions", []))
          for r in rules), "no podFailurePolicy rule for disruptions (DisruptionTarget)")

# One token for both sides, from the same Secret.
for who, container, args in (("coordinator", c, c_args), ("agents", a, a_args)):
    check(flag(args, "--token") == "$(STAMPEDE_TOKEN)", f"the {who}' --token is not $(STAMPEDE_TOKEN)")
    token = env_of(container, "STAMPEDE_TOKEN")
    ref = (token or {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(ref.get("name") == "stampede-token" and not ref.get("optional", False),
          f"the {who}' STAMPEDE_TOKEN is not the required Secret stampede-token")
check(c["image"] == a["image"], "the coordinator and the agents run different images")

# The Containerfile: Debian 12, the stampede binary as the entry point.
with open(os.path.join(deploy, "Containerfile")) as f:
    containerfile = f.read()
froms = [line.split()[1] for line in containerfile.splitlines() if line.startswith("FROM ")]
check(froms and all("debian:12" in image for image in froms), f"the Containerfile's bases {froms} are not Debian 12")
check('ENTRYPOINT ["/usr/local/bin/stampede"]' in containerfile, "the Containerfile's entry point is not stampede")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"deploy/kubernetes: {len(objects)} objects read by kubectl, every checked field present")
