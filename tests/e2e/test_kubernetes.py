"""The Kubernetes sink against tests/e2e/kube_standin.py, a faithful local stand-in for the
kube-apiserver (TLS with a test CA, bearer tokens and client certificates, strategic merge of
status.conditions, Events, fault injection). Real conditions are flipped by real pressure: a
64 MiB tmpfs configured as nodefs and imagefs filled past the kubelet's default thresholds
with fallocate (the agent's DiskPressure, written as DiskEvictionThresholdMet)."""
import collections
import contextlib
import json
import os
import re
import ssl
import urllib.error
import urllib.request
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import nodecalc
from harness import Agent, need, need_binary, need_root, run_cli, wait_until, write
from kube_standin import PkiTestCase, PkiWorkTestCase, StandIn, now_rfc3339

NODE = "nodehealth-test-node"
KUBELET_CONDITIONS = [
    {"type": t, "status": s, "reason": r, "message": m,
     "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}
    for t, s, r, m in (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route"))]


def config(mnt, extra=""):
    return ("apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
            "sampleInterval: 200ms\nevictionPressureTransitionPeriod: 2s\n"
            "nodeName: %s\nfilesystems:\n  nodefs: %s\n  imagefs: %s\n"
            "probes:\n  enabled: false\n%s" % (NODE, mnt, mnt, extra))


@contextlib.contextmanager
def small_fs():
    d = tempfile.mkdtemp(prefix="nodehealth-test-kube-fs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "nodehealth-test", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d])
        os.rmdir(d)


def fill(mnt):
    subprocess.run(["fallocate", "-l", "60M", os.path.join(mnt, "fill")], check=True)


def empty(mnt):
    os.unlink(os.path.join(mnt, "fill"))


LABEL_PATCH = r"^/api/v1/nodes/[^/]+$"  # the Node itself, not /status


def expected_feature_labels():
    """The labels kubernetes.featureLabels stands for on this machine, mapped here from
    `nodehealth features -o json` (a separate process) by the README's rule: each feature's
    effective verdict when known, each safe sysctl's."""
    r = run_cli("features", "-o", "json", timeout=60)
    d = json.loads(r.stdout)
    out = {}
    for f in d["features"]:
        if f["supported"] is not None:
            out["feature.nodehealth.io/" + f["name"]] = "true" if f["supported"] else "false"
    for s in d["sysctls"]:
        out["sysctl.nodehealth.io/" + s["name"]] = "true" if s["supported"] else "false"
    assert len(out) >= 20, out
    return out


def requests_total(metrics, verb, resource, code):
    for line in metrics.splitlines():
        if line.startswith("nodehealth_kubernetes_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if labels == {"verb": verb, "resource": resource, "code": code}:
                return float(line.split()[-1])
    return 0


class KubernetesSinkTest(PkiWorkTestCase):
    def kubeconfig(self, s, **kw):
        return s.kubeconfig(os.path.join(self.work, "kubeconfig"), **kw)

    def test_flip_within_1s_kubelet_conditions_untouched_and_quiet_steady_state(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            extra = "kubernetes:\n  heartbeatInterval: 2s\n"
            with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"),
                       config=config(mnt, extra)) as agent:
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                self.assertEqual(s.conditions(NODE)["DiskEvictionThresholdMet"]["status"], "False")
                # The sink's HTTPS is libcurl, loaded for it at start (the binary links none).
                self.assertTrue(maps_libcurl(agent.proc.pid))
                # Steady state: heartbeats only, one per heartbeatInterval, each refreshing
                # lastHeartbeatTime and keeping lastTransitionTime.
                time.sleep(1)
                before = s.conditions(NODE)
                t0 = time.monotonic()
                time.sleep(6.2)
                reqs = s.requests(since=t0)
                patches = s.requests("PATCH", r"/status$", since=t0)
                self.assertEqual(len(reqs), len(patches), [(r["method"], r["path"]) for r in reqs])
                self.assertIn(len(patches), (2, 3, 4), [p["time"] - t0 for p in patches])
                self.assertEqual({p["content_type"] for p in patches},
                                 {"application/strategic-merge-patch+json"})
                after = s.conditions(NODE)
                for t, c in after.items():
                    if t in before and c.get("lastHeartbeatTime") != "2026-01-01T00:00:00Z":
                        self.assertEqual(c["lastTransitionTime"], before[t]["lastTransitionTime"], t)
                        self.assertGreater(c["lastHeartbeatTime"], before[t]["lastHeartbeatTime"], t)
                self.assertEqual(len(s.requests("GET")), 1)  # the Node is read once, at start
                size = max(p["bytes"] for p in patches)
                ntypes = len(patches[-1]["body"]["status"]["conditions"])
                print("  steady state: %d status patches in 6.2 s at heartbeatInterval 2s, %d "
                      "bytes each (%d condition types); at the default 5m heartbeat one node "
                      "costs 12 patches = %.1f KB an hour, 5000 nodes 60000 an hour (%.1f/s)"
                      % (len(patches), size, ntypes, 12 * size / 1e3, 60000 / 3600))
                # A flip reaches the API within a second.
                fill(mnt)
                t_fill = time.monotonic()
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "True",
                           5, interval=0.02, what="DiskEvictionThresholdMet True on the Node")
                latency = time.monotonic() - t_fill
                print("  flip reached the stand-in %.0f ms after fallocate" % (latency * 1e3))
                self.assertLess(latency, 1.0)
                c = s.conditions(NODE)["DiskEvictionThresholdMet"]
                self.assertEqual(c["reason"], "KubeletHasDiskPressure")
                # The transition produced a Warning Event on the Node.
                wait_until(lambda: any(e["type"] == "Warning" and
                                       e["message"].startswith("DiskEvictionThresholdMet is now True")
                                       for e in s.events.values()), 5, what="a Warning event")
                ev = [e for e in s.events.values() if e["type"] == "Warning"][0]
                self.assertEqual(ev["involvedObject"],
                                 {"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": "uid-" + NODE})
                empty(mnt)
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "False",
                           10, what="DiskEvictionThresholdMet back to False")
                wait_until(lambda: any(e["type"] == "Normal" for e in s.events.values()), 5,
                           what="a Normal event")
                self.assertIn("kubernetes: node %s status patched" % NODE, agent.logs())
            # The kubelet's and the CNI's conditions are exactly as they were.
            conds = s.conditions(NODE)
            for k in KUBELET_CONDITIONS:
                self.assertEqual(conds[k["type"]], k)
            for p in s.requests("PATCH", r"/status$"):
                types = {c["type"] for c in p["body"]["status"]["conditions"]}
                self.assertFalse(types & {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure",
                                          "NetworkUnavailable"}, types)

    def test_outage_then_convergence_with_bounded_requests(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"),
                       config=config(mnt, "kubernetes:\n  heartbeatInterval: 1m\n")) as agent:
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                outage_s = 12
                t0 = time.monotonic()
                s.outage = True
                fill(mnt)  # the truth changes while the API is away
                time.sleep(outage_s)
                s.outage = False
                during = len(s.requests(since=t0))
                t1 = time.monotonic()
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "True",
                           15, interval=0.05, what="convergence after the outage")
                converge = time.monotonic() - t1
                after = len(s.requests(since=t1))
                print("  %ds outage: %d requests during it (backoff 200ms..7s), converged %.1fs "
                      "after, with %d more" % (outage_s, during, converge, after))
                self.assertLessEqual(during, 10)
                self.assertLessEqual(converge, 8.5)
                self.assertIn("retrying with backoff", agent.logs())
                empty(mnt)

    def test_faults_500_429_409_slow_are_retried(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"),
                       config=config(mnt)):
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                t0 = time.monotonic()
                for kind in ("500", "429", "409", "slow", "drop"):
                    s.inject(kind)
                fill(mnt)
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "True",
                           30, interval=0.05, what="the flip through five faults")
                codes = [r["code"] for r in s.requests(since=t0)]
                self.assertIn(429, codes)
                self.assertIn(500, codes)
                # Retry-After: 1 was honoured: no request within 1s after the 429.
                reqs = s.requests(since=t0)
                i = [r["code"] for r in reqs].index(429)
                if i + 1 < len(reqs):
                    self.assertGreaterEqual(reqs[i + 1]["time"] - reqs[i]["time"], 0.95)
                empty(mnt)

    def test_restart_adopts_existing_conditions(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            since = "2026-01-01T00:00:00Z"
            s.add_node(NODE, KUBELET_CONDITIONS + [
                {"type": "DiskEvictionThresholdMet", "status": "False", "reason": "KubeletHasNoDiskPressure",
                 "message": "kubelet has no disk pressure", "lastHeartbeatTime": since,
                 "lastTransitionTime": since},
                {"type": "RecentOOMKills", "status": "True", "reason": "OOMKillsObserved",
                 "message": "1 OOM kill(s) before the restart", "lastHeartbeatTime": since,
                 "lastTransitionTime": since}])
            cfg = config(mnt).replace("probes:\n  enabled: false\n", "")
            with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"), config=cfg) as agent:
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["lastHeartbeatTime"]
                           != since, 10, what="first patch")
                conds = s.conditions(NODE)
                # Same status as before the restart: its transition time is kept.
                self.assertEqual(conds["DiskEvictionThresholdMet"]["lastTransitionTime"], since)
                # A problem seen before the restart is not called healthy at once.
                self.assertEqual(conds["RecentOOMKills"]["status"], "True")
                self.assertEqual(conds["RecentOOMKills"]["lastTransitionTime"], since)
                self.assertIn("adopted 2 condition(s)", agent.logs())

    def test_remove_stale_conditions_only_when_asked(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            stale = {"type": "KernelRequirementsMissing", "status": "False", "reason": "X",
                     "message": "m", "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                     "lastTransitionTime": "2026-01-01T00:00:00Z"}
            s.add_node(NODE, KUBELET_CONDITIONS + [stale])
            kc = self.kubeconfig(s, token="test-token")
            with Agent("--kubeconfig", kc, config=config(mnt)):
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                self.assertIn("KernelRequirementsMissing", s.conditions(NODE))
            with Agent("--kubeconfig", kc,
                       config=config(mnt, "kubernetes:\n  removeStaleConditions: true\n")):
                wait_until(lambda: "KernelRequirementsMissing" not in s.conditions(NODE), 10,
                           what="the stale condition removed")
            for k in KUBELET_CONDITIONS:
                self.assertEqual(s.conditions(NODE)[k["type"]], k)

    def test_token_rotation_and_client_certificates(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            token = os.path.join(self.work, "token")
            write(token, "token-1\n")
            s.tokens = {"token-1"}
            with Agent("--kubeconfig", self.kubeconfig(s, token_file=token), config=config(mnt)):
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                write(token, "token-2\n")
                s.rotate_token("token-2")
                fill(mnt)
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "True",
                           10, what="a patch with the rotated token")
                self.assertEqual(s.requests("PATCH", r"/status$")[-1]["auth"], "token:token-2")
                empty(mnt)
        with StandIn(self.pki, tokens=()) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            with Agent("--kubeconfig", self.kubeconfig(s, client_cert=True), config=config(mnt)):
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="a patch authenticated by client certificate")
                self.assertEqual(s.requests("PATCH", r"/status$")[0]["auth"], "cert")

    def test_events_forbidden_by_rbac_are_dropped_not_retried(self):
        # A role without the events grant: the conditions still reach the Node, each refused
        # Event costs one request, and the refusal is logged once and counted.
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            s.forbidden = {r"/events"}
            with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"),
                       config=config(mnt)) as agent:
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                fill(mnt)
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"] == "True",
                           5, what="the flip, without Events")
                wait_until(lambda: s.requests(path_re=r"/events"), 5, what="the Event attempt")
                time.sleep(4)  # the agent publishes every 200 ms: no retry of the refused Event
                writes = s.requests(path_re=r"/events")
                self.assertEqual([w["code"] for w in writes], [403])
                self.assertEqual(agent.logs().count("the API refuses them"), 1)
                self.assertIn("nodehealth_kubernetes_events_rejected_total 1", agent.metrics())
                empty(mnt)

    def test_server_by_host_name(self):
        # A kubeconfig naming its server by host name (as most do): the name is resolved (by
        # libcurl's resolver thread) and checked against the certificate, inside the sandbox.
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            kc = self.kubeconfig(s, token="test-token", host="localhost")
            with Agent("--kubeconfig", kc, config=config(mnt)) as agent:
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch via https://localhost")
                self.assertIn("https://localhost:%d" % s.port, open(kc).read())
                time.sleep(1)
                self.assertIsNone(agent.proc.poll(), agent.logs())

    def test_in_cluster_token_reread_while_the_old_one_still_works(self):
        # The kubelet rewrites a bound token well before it expires, so no 401 says so: the
        # agent reads the file again periodically (every minute; every 2 s here, by a test
        # variable) and uses the new token from then on.
        with StandIn(self.pki, tokens=("token-1", "token-2")) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            sa = os.path.join(self.work, "sa")
            os.mkdir(sa)
            write(os.path.join(sa, "token"), "token-1")
            shutil.copy(self.pki["ca.crt"], os.path.join(sa, "ca.crt"))
            env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(s.port),
                   "NODEHEALTH_SERVICEACCOUNT_DIR": sa, "NODEHEALTH_TEST_TOKEN_REREAD_SECONDS": "2"}
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                with Agent(config=config(mnt, "kubernetes:\n  heartbeatInterval: 1s\n")):
                    wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                               what="first patch in-cluster")
                    self.assertEqual(s.requests()[0]["auth"], "token:token-1")
                    write(os.path.join(sa, "token"), "token-2\n")
                    t0 = time.monotonic()
                    wait_until(lambda: s.requests(since=t0) and
                               s.requests(since=t0)[-1]["auth"] == "token:token-2", 10,
                               what="requests with the rotated token")
                    self.assertNotIn(401, [r["code"] for r in s.requests()])
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def test_in_cluster_configuration(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS)
            sa = os.path.join(self.work, "sa")
            os.mkdir(sa)
            write(os.path.join(sa, "token"), "test-token")
            shutil.copy(self.pki["ca.crt"], os.path.join(sa, "ca.crt"))
            env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(s.port),
                   "NODEHEALTH_SERVICEACCOUNT_DIR": sa}
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                with Agent(config=config(mnt)) as agent:
                    wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                               what="first patch in-cluster")
                    self.assertIn("(in-cluster)", agent.logs())
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def test_oom_storm_costs_a_bounded_number_of_event_writes(self):
        need_binary("stress-ng")
        _, v1 = nodecalc.cgroup_mounts("/proc")
        need(v1 is not None, "no cgroup v1 memory controller here")
        cg = os.path.join(v1, "nodehealth-test-kube-oom-%d" % os.getpid())
        os.mkdir(cg)
        try:
            with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
                f.write(str(24 << 20))
            with StandIn(self.pki) as s, small_fs() as mnt:
                s.add_node(NODE, KUBELET_CONDITIONS)
                cfg = config(mnt).replace("probes:\n  enabled: false\n", "")
                with Agent("--kubeconfig", self.kubeconfig(s, token="test-token"),
                           config=cfg) as agent:
                    wait_until(lambda: "RecentOOMKills" in s.conditions(NODE), 10, what="first patch")

                    def enter():
                        with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                            f.write(str(os.getpid()))
                    t0 = time.monotonic()

                    def kills_counted():
                        m = wait_until(lambda: [l for l in agent.metrics().splitlines()
                                                if l.startswith("nodehealth_oom_kills_total ")],
                                       10, what="kills counted")
                        return float(m[0].split()[1])
                    # bigheap workers grow until the cgroup's OOM killer kills them; stress-ng
                    # restarts them: a storm of real OOM kills, in rounds of 6 seconds until
                    # at least 20 (a busy machine kills fewer per round), at most 3 rounds.
                    for rounds in range(1, 4):
                        subprocess.run(["stress-ng", "--bigheap", "4", "--timeout", "6s"],
                                       preexec_fn=enter, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=60)
                        time.sleep(2)  # the last kills drained, counted and aggregated
                        kills = kills_counted()
                        if kills >= 20:
                            break
                    writes = s.requests(path_re=r"/events", since=t0)
                    elapsed = time.monotonic() - t0
                    print("  %d real OOM kills in %d round(s) of 6s -> %d event writes" %
                          (kills, rounds, len(writes)))
                    self.assertGreaterEqual(kills, 20)
                    self.assertLessEqual(len(writes), 30 * rounds)
                    self.assertLess(len(writes), kills)
                    # Each Event is patched at most once a second, however often the storm
                    # samples (every 50 ms while OOM events come).
                    patches = collections.Counter(
                        r["path"].rsplit("/", 1)[1] for r in writes if r["method"] == "PATCH")
                    for name, n in patches.items():
                        self.assertLessEqual(n, elapsed + 1, name)
                    oom = [e for e in s.events.values() if e["reason"] == "OOMKilling"]
                    self.assertTrue(oom)
                    self.assertLessEqual(sum(e["count"] for e in oom), kills)
                    self.assertGreater(sum(e["count"] for e in oom), len(oom))
        finally:
            for _ in range(100):
                try:
                    os.rmdir(cg)
                    break
                except OSError:
                    time.sleep(0.1)


class FeatureLabelsTest(PkiWorkTestCase):
    """kubernetes.featureLabels: the real agent's features report published as Node labels."""

    OTHERS = {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "node-role.kubernetes.io/worker": "",
              "feature.node.kubernetes.io/kernel-version.major": "6",  # someone else's prefix
              "nodehealth.io/team": "infra"}  # the agent's domain, not its label prefixes

    def setUp(self):
        super().setUp()
        self.want = expected_feature_labels()

    def agent(self, s, mnt, extra):
        return Agent("--kubeconfig", s.kubeconfig(os.path.join(self.work, "kubeconfig"),
                                                  token="test-token"),
                     config=config(mnt, "kubernetes:\n" + extra))

    def test_published_others_untouched_retired_removed_and_restored_after_a_hand_edit(self):
        retired = {"feature.nodehealth.io/retired_feature": "true",
                   "sysctl.nodehealth.io/kernel.retired": "false"}
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS, labels={**self.OTHERS, **retired})
            with self.agent(s, mnt, "  featureLabels: true\n  heartbeatInterval: 1s\n") as agent:
                wait_until(lambda: s.labels(NODE) == {**self.OTHERS, **self.want}, 20,
                           what="the feature labels on the Node")
                (p,) = s.requests("PATCH", LABEL_PATCH)
                self.assertEqual(p["code"], 200)
                self.assertEqual(p["content_type"], "application/merge-patch+json")
                self.assertEqual(p["body"], {"metadata": {"labels": {
                    **self.want, **{k: None for k in retired}}}})
                line = "kubernetes: node labels: set %d, removed 2 node=%s" % (len(self.want), NODE)
                wait_until(lambda: line in agent.logs(), 5, what=line)  # logged on the answer
                print("  %d labels set and 2 removed in one %d-byte merge patch; the Node's labels:"
                      % (len(self.want), p["bytes"]))
                for k, v in sorted(s.labels(NODE).items()):
                    print("    %s=%s" % (k, v))
                # Unchanged: status heartbeats every second, no other label patch.
                t0 = time.monotonic()
                time.sleep(3.5)
                self.assertEqual(len(s.requests("PATCH", LABEL_PATCH)), 1)
                self.assertGreaterEqual(len(s.requests("PATCH", r"/status$", since=t0)), 2)
                # Someone drops one of the agent's labels and flips another: the next status
                # patch's answer shows it, and the agent puts back exactly those two.
                gone, flipped = "feature.nodehealth.io/psi", "sysctl.nodehealth.io/net.ipv4.tcp_rmem"
                self.assertIn(gone, self.want)
                edited = s.labels(NODE)
                del edited[gone]
                edited[flipped] = "false" if self.want[flipped] == "true" else "true"
                s.set_labels(NODE, edited)
                wait_until(lambda: s.labels(NODE) == {**self.OTHERS, **self.want}, 10,
                           what="the hand edit undone")
                patches = s.requests("PATCH", LABEL_PATCH)
                self.assertEqual(len(patches), 2)
                self.assertEqual(patches[1]["body"], {"metadata": {"labels": {
                    gone: self.want[gone], flipped: self.want[flipped]}}})
                wait_until(lambda: "kubernetes: node labels: set 2, removed 0" in agent.logs(), 5,
                           what="the second label patch logged")
                self.assertEqual(requests_total(agent.metrics(), "patch", "nodes", "200"), 2)
            # The kubelet's conditions and everyone else's labels as they were.
            for k in KUBELET_CONDITIONS:
                self.assertEqual(s.conditions(NODE)[k["type"]], k)
            for k, v in self.OTHERS.items():
                self.assertEqual(s.labels(NODE)[k], v)

    def test_off_by_default_no_patch_of_the_node(self):
        left = {**self.OTHERS, "feature.nodehealth.io/psi": "false"}  # from an earlier run
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS, labels=left)
            with self.agent(s, mnt, "  heartbeatInterval: 1s\n") as agent:
                wait_until(lambda: "DiskEvictionThresholdMet" in s.conditions(NODE), 10,
                           what="first patch")
                time.sleep(3)
                self.assertGreaterEqual(len(s.requests("PATCH", r"/status$")), 2)
                self.assertEqual(s.requests("PATCH", LABEL_PATCH), [])
                self.assertEqual(s.labels(NODE), left)
                self.assertNotIn("node labels", agent.logs())
                self.assertNotIn('resource="nodes",verb="patch"', agent.metrics())

    def test_forbidden_is_counted_logged_once_and_retried_per_heartbeat(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS, labels=self.OTHERS)
            # A cluster without deploy/feature-labels/rbac.yaml: get nodes granted, patch not.
            s.forbidden = {("PATCH", LABEL_PATCH)}
            with self.agent(s, mnt, "  featureLabels: true\n  heartbeatInterval: 4s\n") as agent:
                wait_until(lambda: s.requests("PATCH", LABEL_PATCH), 20, what="a label patch")
                t0 = time.monotonic()
                fill(mnt)  # conditions still flip at once
                wait_until(lambda: s.conditions(NODE)["DiskEvictionThresholdMet"]["status"]
                           == "True", 5, what="the flip while labels are refused")
                time.sleep(6)
                refused = s.requests("PATCH", LABEL_PATCH)
                self.assertEqual({r["code"] for r in refused}, {403})
                # Once per heartbeat (4 s), not at the backoff's 200 ms, 400 ms, ... pace.
                self.assertLessEqual(len(refused), 3, [r["time"] - t0 for r in refused])
                self.assertEqual({r["code"] for r in s.requests("PATCH", r"/status$", since=t0)},
                                 {200})
                self.assertEqual(agent.logs().count("node labels: the API refuses them"), 1)
                # Counted once answered (a retry may be on its way at this very moment).
                wait_until(lambda: requests_total(agent.metrics(), "patch", "nodes", "403") ==
                           len(s.requests("PATCH", LABEL_PATCH)), 5, what="every 403 counted")
                self.assertEqual(s.labels(NODE), self.OTHERS)
                # The grant arrives: the labels follow within a heartbeat.
                s.forbidden = set()
                wait_until(lambda: s.labels(NODE) == {**self.OTHERS, **self.want}, 15,
                           what="the labels once granted")
                wait_until(lambda: "node labels: written after a failure" in agent.logs(), 5,
                           what="the recovery logged")
                empty(mnt)

    def test_restart_adopts_the_labels_without_a_write(self):
        with StandIn(self.pki) as s, small_fs() as mnt:
            s.add_node(NODE, KUBELET_CONDITIONS, labels=self.OTHERS)
            extra = "  featureLabels: true\n  heartbeatInterval: 1s\n"
            with self.agent(s, mnt, extra):
                wait_until(lambda: s.labels(NODE) == {**self.OTHERS, **self.want}, 20,
                           what="the feature labels on the Node")
            rv = s.nodes[NODE]["metadata"]["resourceVersion"]
            t0 = time.monotonic()
            with self.agent(s, mnt, extra) as agent:
                wait_until(lambda: s.requests("PATCH", r"/status$", since=t0), 20,
                           what="the restarted agent's first status patch")
                time.sleep(3)  # heartbeats, each answer showing the Node's labels
                self.assertGreaterEqual(len(s.requests("PATCH", r"/status$", since=t0)), 2)
                self.assertEqual(s.requests("PATCH", LABEL_PATCH, since=t0), [])
                self.assertIn("node labels: the node has %d label(s) under" % len(self.want),
                              agent.logs())
                self.assertNotIn("node labels: set", agent.logs())
            self.assertEqual(s.labels(NODE), {**self.OTHERS, **self.want})
            self.assertNotEqual(s.nodes[NODE]["metadata"]["resourceVersion"], rv)  # status moved it


class StandInLabelsTest(PkiTestCase):
    """The stand-in holds the agent's label patches to the real API's rules: if it accepted
    anything, the e2e tests above would prove nothing about the labels' syntax."""

    def call(self, s, method, path, body=None, ctype="application/merge-patch+json"):
        ctx = ssl.create_default_context(cafile=self.pki["ca.crt"])
        req = urllib.request.Request(s.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer test-token",
                                              "Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def test_merge_patch_of_labels_with_the_real_syntax(self):
        with StandIn(self.pki) as s:
            s.add_node(NODE)
            path = "/api/v1/nodes/" + NODE
            kubelet = s.labels(NODE)
            code, node = self.call(s, "PATCH", path, {"metadata": {"labels": {
                "feature.nodehealth.io/psi": "true", "sysctl.nodehealth.io/net.ipv4.tcp_rmem": "",
                "x" * 63: "v" * 63}}})
            self.assertEqual(code, 200, node)
            self.assertEqual(node["metadata"]["labels"], {
                **kubelet, "feature.nodehealth.io/psi": "true",
                "sysctl.nodehealth.io/net.ipv4.tcp_rmem": "", "x" * 63: "v" * 63})
            rv = node["metadata"]["resourceVersion"]
            # null deletes; deleting a label that is not there changes nothing.
            code, node = self.call(s, "PATCH", path, {"metadata": {"labels": {
                "x" * 63: None, "never-there": None}}})
            self.assertEqual(code, 200)
            self.assertNotIn("x" * 63, node["metadata"]["labels"])
            code, again = self.call(s, "PATCH", path, {"metadata": {"labels": {"never-there": None}}})
            self.assertEqual(again["metadata"]["resourceVersion"], node["metadata"]["resourceVersion"])
            self.assertNotEqual(rv, node["metadata"]["resourceVersion"])
            # Each rule of the syntax, broken: 422 Invalid naming the key, nothing applied.
            for key, value, why in (
                    ("x" * 64, "v", "name part: 64 characters, at most 63"),
                    ("a/b/c", "v", "more than one '/'"),
                    ("Feature.io/x", "v", "prefix part: not a lower-case DNS subdomain"),
                    ("a" * 254 + "/x", "v", "prefix part: 254 characters"),
                    ("/x", "v", "prefix part: empty"),
                    ("example.com/", "v", "name part: empty"),
                    ("-x", "v", "name part: letters"),
                    ("ok", "v" * 64, "value: 64 characters"),
                    ("ok", "-v", "value: empty, or"),
                    ("ok", "a b", "value: empty, or")):
                code, st = self.call(s, "PATCH", path, {"metadata": {"labels": {key: value}}})
                self.assertEqual((code, st["reason"]), (422, "Invalid"), key)
                self.assertIn('Node "%s" is invalid: metadata.labels: Invalid value' % NODE,
                              st["message"])
                self.assertIn(why, st["message"], key)
                self.assertNotIn(key, s.labels(NODE))
            code, st = self.call(s, "PATCH", path, {"metadata": {"labels": {"ok": True}}})
            self.assertEqual((code, st["reason"]), (400, "BadRequest"))
            code, st = self.call(s, "PATCH", path, [{"op": "add", "path": "/metadata/labels/a",
                                                     "value": "b"}], "application/json-patch+json")
            self.assertEqual(code, 415)
            code, st = self.call(s, "PATCH", path, {"spec": {"unschedulable": True}})
            self.assertEqual(code, 422)
            # The strategic merge patch of a map of strings is the same merge.
            code, node = self.call(s, "PATCH", path, {"metadata": {"labels": {"smp": "yes"}}},
                                   "application/strategic-merge-patch+json")
            self.assertEqual((code, node["metadata"]["labels"]["smp"]), (200, "yes"))
            # RBAC by method: the patch refused, the read allowed.
            s.forbidden = {("PATCH", LABEL_PATCH)}
            self.assertEqual(self.call(s, "PATCH", path, {"metadata": {"labels": {"a": "b"}}})[0],
                             403)
            self.assertEqual(self.call(s, "GET", path)[0], 200)


def maps_libcurl(pid):
    with open("/proc/%d/maps" % pid) as f:
        return "/libcurl.so.4" in f.read()


class StandaloneTest(unittest.TestCase):
    def test_off_without_a_cluster(self):
        with Agent() as agent:
            self.assertIn("kubernetes: off (no kubeconfig, not in a cluster)", agent.logs())
            self.assertNotIn("nodehealth_kubernetes_requests_total", agent.metrics())
            # No sink, no libcurl (nor the TLS stacks and libraries behind it) in memory.
            self.assertFalse(maps_libcurl(agent.proc.pid))

    def test_enabled_without_a_cluster_refuses_to_start(self):
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        path = os.path.join(d, "c.yaml")
        write(path, "apiVersion: nodehealth.io/v1alpha1\nkind: AgentConfiguration\n"
                    "kubernetes:\n  enabled: true\n")
        from harness import BIN
        r = subprocess.run([BIN, "run", "--config", path, "--listen-address", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("kubernetes.enabled is true but there is no kubeconfig", r.stderr)
        shutil.rmtree(d)

    def test_bad_kubeconfig_names_file_and_key(self):
        d = tempfile.mkdtemp(prefix="nodehealth-e2e-")
        path = os.path.join(d, "kubeconfig")
        write(path, "apiVersion: v1\nkind: Config\ncurrent-context: nope\ncontexts: []\n")
        from harness import BIN
        r = subprocess.run([BIN, "run", "--kubeconfig", path, "--listen-address", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("kubeconfig %s:3: current-context: no context named \"nope\"" % path, r.stderr)
        shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
