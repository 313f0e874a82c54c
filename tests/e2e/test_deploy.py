"""The Kubernetes manifests in deploy/: they parse, carry what a DaemonSet of this agent needs
(hostPID, read-only host mounts, only the capabilities it uses, every taint tolerated,
NODE_NAME from the downward API, requests and limits, probes on /healthz), the ConfigMap
carries deploy/host/config.yaml and the agent accepts it, and the ClusterRoles grant exactly
the requests the code makes (read from agent/sinks/kubernetes.cpp): deploy/10-rbac.yaml all
but the optional Node label patch, deploy/feature-labels/rbac.yaml that one. There is no cluster
here: the Dockerfile is checked for shape only, not built (no Docker engine)."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import (BIN, FIXTURES, ROOT, SANITIZER_RUNTIMES, http_get, need_binary, need_root,
                     run_cli, wait_until)

DEPLOY = os.path.join(ROOT, "deploy")


def objects(pattern="*.yaml"):
    out = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, pattern))):
        with open(path) as f:
            out += [(os.path.basename(path), d) for d in yaml.safe_load_all(f) if d]
    return out


def one(kind):
    found = [d for _, d in objects() if d["kind"] == kind]
    assert len(found) == 1, (kind, len(found))
    return found[0]


# API calls -> the RBAC grant each needs.
GRANTS = {("GET", "nodes"): ("", "nodes", "get"),
          ("PATCH", "nodes/status"): ("", "nodes/status", "patch"),
          ("POST", "events"): ("", "events", "create"),
          ("PATCH", "events"): ("", "events", "patch"),
          ("PATCH", "nodes"): ("", "nodes", "patch")}
# Calls made only with an option on, granted by their own files (not applied by `kubectl apply
# -f deploy/`): kubernetes.featureLabels patches the Node's labels.
OPTIONAL = {("PATCH", "nodes"): "feature-labels"}


def code_requests():
    """(verb, resource) of every API request in the sink's source."""
    with open(os.path.join(ROOT, "agent", "sinks", "kubernetes.cpp")) as f:
        src = f.read()
    out = set()
    for verb, path in re.findall(r'client_->request\(\s*"(\w+)",\s*([^,)]+)', src):
        if "/status" in path:
            out.add((verb, "nodes/status"))
        elif "nodes" in path:
            out.add((verb, "nodes"))
        elif "base" in path or "events" in path:
            out.add((verb, "events"))
        else:
            raise AssertionError("unclassified request: %s %s" % (verb, path))
    return out


class ManifestTest(unittest.TestCase):
    def test_every_file_parses_and_every_object_is_namespaced_right(self):
        objs = objects()
        kinds = sorted(d["kind"] for _, d in objs)
        self.assertEqual(kinds, ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet",
                                 "Namespace", "Service", "ServiceAccount"])
        for name, d in objs:
            self.assertIn("apiVersion", d, name)
            self.assertEqual(d["metadata"]["labels"]["app.kubernetes.io/name"], "nodehealth")
            if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
                self.assertEqual(d["metadata"]["namespace"], "nodehealth", name)
        # kubectl apply -f deploy/ goes in name order: the namespace first.
        files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(DEPLOY, "*.yaml")))
        self.assertEqual(files[0], "00-namespace.yaml")
        for name, d in objects("prometheus-operator/*.yaml"):
            self.assertEqual(d["apiVersion"], "monitoring.coreos.com/v1", name)
        labels = objects("feature-labels/*.yaml")
        self.assertEqual(sorted(d["kind"] for _, d in labels), ["ClusterRole", "ClusterRoleBinding"])
        for name, d in labels:
            self.assertEqual(d["metadata"]["labels"]["app.kubernetes.io/name"], "nodehealth")

    def test_rbac_grants_exactly_what_the_code_calls(self):
        calls = code_requests()
        self.assertEqual(calls, set(GRANTS))

        def granted(role):
            out = set()
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for res in rule["resources"]:
                        for verb in rule["verbs"]:
                            out.add((group, res, verb))
            return out

        def want(cs):
            w = {GRANTS[c] for c in cs}
            return w | {("events.k8s.io", "events", v) for g, r, v in w if r == "events"}

        sa = one("ServiceAccount")
        subjects = [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                     "namespace": sa["metadata"]["namespace"]}]
        role = one("ClusterRole")
        self.assertEqual(granted(role), want(calls - set(OPTIONAL)))
        binding = one("ClusterRoleBinding")
        self.assertEqual(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "ClusterRole", "name": role["metadata"]["name"]})
        self.assertEqual(binding["subjects"], subjects)
        # Each optional call: its own role, granting exactly it, bound to the same account.
        for call, sub in OPTIONAL.items():
            objs = [d for _, d in objects(sub + "/*.yaml")]
            (opt,) = [d for d in objs if d["kind"] == "ClusterRole"]
            (opt_binding,) = [d for d in objs if d["kind"] == "ClusterRoleBinding"]
            self.assertEqual(granted(opt), want({call}), sub)
            self.assertEqual(opt_binding["roleRef"]["name"], opt["metadata"]["name"])
            self.assertEqual(opt_binding["subjects"], subjects)
        ds = one("DaemonSet")
        self.assertEqual(ds["spec"]["template"]["spec"]["serviceAccountName"], sa["metadata"]["name"])

    def test_daemonset(self):
        ds = one("DaemonSet")
        spec = ds["spec"]["template"]["spec"]
        self.assertTrue(spec["hostPID"])
        self.assertEqual(spec["tolerations"], [{"operator": "Exists"}])
        (c,) = spec["containers"]
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        sc = c["securityContext"]
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("privileged", sc)
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertLessEqual(set(sc["capabilities"]["add"]),
                             {"BPF", "PERFMON", "SYS_ADMIN", "SYS_RESOURCE", "DAC_READ_SEARCH",
                              "SYS_PTRACE", "SETPCAP"})
        for m in c["volumeMounts"]:
            self.assertTrue(m.get("readOnly"), m)
        self.assertIn("--host-root=/host", c["args"])
        self.assertEqual(c["livenessProbe"]["httpGet"]["path"], "/healthz")
        res = c["resources"]
        self.assertIn("memory", res["limits"])
        self.assertIn("cpu", res["requests"])
        # The limit leaves room over the measured footprint (README: RSS under 15 MiB).
        self.assertGreaterEqual(int(res["limits"]["memory"].rstrip("Mi")), 32)
        svc = one("Service")
        self.assertEqual(svc["spec"]["selector"], ds["spec"]["selector"]["matchLabels"])
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], c["ports"][0]["name"])

    def test_configmap_is_the_default_config_and_the_agent_accepts_it(self):
        cm = one("ConfigMap")
        with open(os.path.join(DEPLOY, "host", "config.yaml")) as f:
            self.assertEqual(cm["data"]["config.yaml"], f.read())
        path = os.path.join(DEPLOY, "host", "config.yaml")
        r = run_cli("status", "--config", path, "--host-root", os.path.join(FIXTURES, "debian12-hybrid"))
        self.assertEqual(r.returncode, 0, r.stderr)
        ds = one("DaemonSet")
        vol = [v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"][0]
        self.assertEqual(vol["configMap"]["name"], cm["metadata"]["name"])

    def test_dockerfile_is_multi_stage_from_debian_packages(self):
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        self.assertEqual(re.findall(r"^FROM (\S+)", text, re.M), ["debian:12", "debian:12-slim"])
        self.assertIn("scripts/install-deps.sh", text)
        self.assertIn("COPY --from=build /src/build/nodehealth", text)
        ds = one("DaemonSet")
        self.assertEqual(ds["spec"]["template"]["spec"]["containers"][0]["image"], "nodehealth:0.1.0")

    def test_agent_runs_with_exactly_the_daemonsets_capabilities(self):
        """The container gets only the capabilities the DaemonSet adds (root's permitted set is
        the bounding set): the agent must start with exactly those, its probes loaded and its
        sandbox applied, and answer /healthz. setpriv stands in for the container runtime."""
        need_root()
        need_binary("setpriv")
        (c,) = one("DaemonSet")["spec"]["template"]["spec"]["containers"]
        caps = c["securityContext"]["capabilities"]
        self.assertEqual(caps["drop"], ["ALL"])
        bounding = "-all," + ",".join("+" + cap.lower() for cap in caps["add"])
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        log_path = os.path.join(d, "agent.log")
        config = os.path.join(DEPLOY, "host", "config.yaml")  # the ConfigMap's content
        with open(log_path, "w") as log:
            proc = subprocess.Popen(["setpriv", "--bounding-set", bounding, "--inh-caps=-all",
                                     "--", BIN, "run", "--config", config,
                                     "--listen-address", "127.0.0.1:0"],
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            def port():
                with open(log_path) as f:
                    text = f.read()
                self.assertIsNone(proc.poll(), "the agent exited:\n" + text)
                m = re.search(r"nodehealth started: .* port=(\d+)", text)
                return m and int(m.group(1))
            p = wait_until(port, 30, what="the agent to listen")
            wait_until(lambda: http_get(p, "/healthz")[0] == 200, 20, what="/healthz 200")

            def sandboxed():  # the log once it has the sandbox line
                with open(log_path) as f:
                    text = f.read()
                return "sandbox: " in text and text
            # /healthz answers from the first sample; the event sources and the sandbox follow.
            text = wait_until(sandboxed, 20, what="the sandbox line")
            self.assertIn("sandbox: seccomp=enforce", text)
            self.assertNotIn("critical", text)
            self.assertIn("probe up: name=oom", text)  # BPF, PERFMON are enough for the probes
            self.assertNotIn("probe down", text)
            with open("/proc/%d/status" % proc.pid) as f:
                status = f.read()
            print("  with %s: %s" % (", ".join(caps["add"]),
                                     re.search(r"^CapEff:\s+(\S+)$", status, re.M).group(0)))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            shutil.rmtree(d, ignore_errors=True)

    def test_runtime_stage_installs_every_library_the_binary_links(self):
        """The image's second stage must carry the package of every shared library the agent
        links (DT_NEEDED of the binary built here) or loads (libcurl), or the DaemonSet
        crash-loops at start."""
        need_binary("objdump")
        need_binary("dpkg")
        with open(os.path.join(DEPLOY, "Dockerfile")) as f:
            text = f.read()
        runtime = text[text.rindex("\nFROM "):]
        m = re.search(r"apt-get install -y --no-install-recommends((?:\s+\\?\s*[a-z0-9.+-]+)+)",
                      runtime)
        self.assertIsNotNone(m, runtime)
        installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", m.group(1)))
        base = {"libc6", "libgcc-s1", "libstdc++6"}  # in debian:12-slim (apt needs them)
        needed = re.findall(r"^\s*NEEDED\s+(\S+)$",
                            subprocess.run(["objdump", "-p", BIN], capture_output=True,
                                           text=True, check=True).stdout, re.M)
        # The image builds the plain binary; the SANITIZE=1 build's sanitizer runtimes are not
        # shipped.
        needed = [lib for lib in needed if not lib.startswith(SANITIZER_RUNTIMES)]
        self.assertIn("libbpf.so.1", needed)
        # libcurl is not linked but loaded by the Kubernetes sink (agent/kube/curl_lib.h): in a
        # pod the sink is on, so the image needs its package all the same.
        self.assertNotIn("libcurl.so.4", needed)
        needed.append("libcurl.so.4")
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        missing = []
        for lib in needed:
            paths = re.findall(r"^\s*%s \(libc6,x86-64[^)]*\) => (\S+)$" % re.escape(lib), cache, re.M)
            self.assertTrue(paths, lib)
            real = os.path.realpath(paths[0])
            candidates = {paths[0], real} | {"/usr" + p for p in (paths[0], real)
                                              if not p.startswith("/usr/")}
            pkg = None
            for c in sorted(candidates):
                r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
                if r.returncode == 0:
                    pkg = r.stdout.split(":")[0]
                    break
            self.assertIsNotNone(pkg, "no package owns %s" % lib)
            if pkg not in installed | base:
                missing.append("%s (%s)" % (lib, pkg))
        self.assertEqual(missing, [], "the Dockerfile's runtime stage lacks these")


if __name__ == "__main__":
    unittest.main()
