"""The Grafana dashboards in dashboards/ against the real thing: Debian's prometheus on loopback
scrapes the real agent on this machine (and a second agent on the cgroup-v2 fixture tree, the
node with a kubepods cgroup v2), then every panel target and annotation query, with the template
variables substituted as Grafana would, runs through the HTTP API. Each must parse; each must
return data unless it is listed in MAY_BE_EMPTY with the reason. Before the queries the test
makes the data the probe panels show, as tests/e2e/test_probes.py does: direct I/O to a loop
device (the block I/O latency panels), UDP packets to a port without a socket in a network
namespace of its own (drops by reason), a process OOM-killed in a 32 MiB nodehealth-test-*
memory cgroup (OOM kills with pod, a condition change, a node under a condition).

The node agent runs as on a Kubernetes node: its target carries a `node` label, as the
ServiceMonitor's relabelling sets it (deploy/prometheus-operator/servicemonitor.yaml), its
Kubernetes sink writes to the API stand-in (tests/e2e/kube_standin.py), it reads a kubelet
configuration (allowedUnsafeSysctls, failCgroupV1) and watches a checkpoint directory. The
fixture agent's target has no `node` label, as a plain host scraped by address: the `node`
variable's All (.*) must keep it. Every metric family the agents export appears in some panel
or in NOT_SHOWN with the reason. A structural check of the JSON needs only the files and the
agent's /metrics."""
import contextlib
import socket
import sys
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from harness import Agent, FIXTURES, ROOT, http_get, need_binary, need_root, wait_until, write
from kube_standin import StandIn, make_pki
from test_probes import ALLOCATE, in_cgroup, memory_cgroup

DASHBOARDS = os.path.join(ROOT, "dashboards")
# file -> the uid it must keep (links and bookmarks use it)
UIDS = {"nodehealth-node.json": "nodehealth-node", "nodehealth-fleet.json": "nodehealth-fleet"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Grafana's interval variables, as Grafana would set them for a 1s scrape interval and a short
# time range ($__rate_interval = max($__interval + scrape interval, 4 x scrape interval)).
INTERVALS = {"$__rate_interval": "10s", "${__rate_interval}": "10s", "$__interval": "2s",
             "${__interval}": "2s", "$__range": "5m", "${__range}": "5m"}

# (dashboard uid, panel title, refId) -> why the query may legitimately return nothing here.
# Everything else has data: the probe panels from the workload DashboardQueriesTest runs first.
MAY_BE_EMPTY = {
    # nodehealth_signal_seconds_until_threshold exists only while a signal's trend points at its
    # threshold; the test does not fill a filesystem or memory to make one (test_forecast does).
    ("nodehealth-node", "Forecast: time until the threshold", "A"):
        "only a signal falling towards its threshold has a forecast; this node may be idle",
    ("nodehealth-fleet", "Soonest forecast threshold crossings", "A"):
        "only a signal falling towards its threshold has a forecast; the nodes may be idle",
}
# The node label the node agent's target carries (the ServiceMonitor's, from the pod's node).
NODE = "nodehealth-test-dash-node"
# The `node` variable's All: every node, and the targets without a node label.
ALL_NODES = ".*"

# Metric families the agents export that no panel shows, and why. Everything else the agents
# export (a live scrape of both) or declare (agent/**/*.cpp) must be in some panel's query.
NOT_SHOWN = {}

# Panels of the node dashboard that have no data on a node without a cgroup v2 kubepods cgroup
# (this machine, usually): they must have data for the fixture node, which has one.
KUBEPODS_PANELS = ("Pods (the kubepods cgroup): share of time stalled, avg10",
                   "Pods (the kubepods cgroup): stall rate")
# The same in the fleet dashboard: empty when only this machine's node is picked.
FLEET_KUBEPODS_PANELS = ("Pods (kubepods cgroup): most stalled on memory and I/O (some, avg60)",)

FIXTURE_CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1s
"""

# The kubelet's default hard thresholds plus one for pid.available (the kubelet sets none by
# default), far below what this machine has: the PIDs panel's threshold and forecast lines.
EVICTION_HARD = """evictionHard:
  memory.available: 100Mi
  nodefs.available: "10%"
  nodefs.inodesFree: "5%"
  imagefs.available: "15%"
  imagefs.inodesFree: "5%"
  pid.available: "1000"
"""
NODE_CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1s
nodeName: %s
kubelet:
  configFile: KUBELET_CONFIG
checkpointDir: CHECKPOINT_DIR
""" % NODE
# The kubelet's file: the thresholds (the agent takes the kubelet's when it reads one), two
# unsafe sysctls every kernel with network and IPC namespaces namespaces, failCgroupV1 off.
KUBELET_CONFIG = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
allowedUnsafeSysctls:
- net.core.somaxconn
- kernel.shm*
""" + EVICTION_HARD

SEND_UDP = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "for _ in range(300): s.sendto(b'x', ('127.0.0.1', 9998))\n")


def make_probe_data(prom, instance):
    """The events behind the probe panels, each waited for in Prometheus: 200 direct writes to
    a loop device, 300 UDP packets dropped (no socket) in the test's own network namespace, one
    OOM kill in a 32 MiB memory cgroup. Everything it creates is removed again."""
    need_root()
    for b in ("losetup", "dd", "ip"):
        need_binary(b)
    # Direct I/O to a loop device on a 16 MiB file.
    d = tempfile.mkdtemp(prefix="nodehealth-test-dash-loop-")
    backing = os.path.join(d, "disk.img")
    with open(backing, "wb") as f:
        f.truncate(16 << 20)
    dev = subprocess.run(["losetup", "--find", "--show", backing], capture_output=True,
                         text=True, check=True).stdout.strip()
    try:
        subprocess.run(["dd", "if=/dev/zero", "of=" + dev, "bs=4096", "count=200",
                        "oflag=direct"], check=True, capture_output=True)
        wait_until(lambda: prom.query(
            'nodehealth_block_io_latency_seconds_count{instance="%s",device="%s"} >= 200'
            % (instance, os.path.basename(dev))), 30, interval=0.5,
            what="200 requests on %s in Prometheus" % dev)
    finally:
        subprocess.run(["losetup", "-d", dev])
        shutil.rmtree(d, ignore_errors=True)
    # Packets to a port without a socket, inside a network namespace of the test's.
    ns = "nodehealth-test-dash-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", SEND_UDP], check=True)
        wait_until(lambda: prom.query(
            'nodehealth_packet_drops_total{instance="%s",reason="no_socket"} >= 300' % instance),
            30, interval=0.5, what="300 no-socket drops in Prometheus")
    finally:
        subprocess.run(["ip", "netns", "delete", ns])
    # A process allocating past its cgroup's 32 MiB limit.
    with memory_cgroup("dash-oom", limit=32 << 20) as (cgroup, path):
        proc = subprocess.Popen([sys.executable, "-c", ALLOCATE], preexec_fn=in_cgroup(path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -9, "the allocation was not OOM-killed"
        wait_until(lambda: prom.query(
            'nodehealth_oom_kills_cgroup_total{instance="%s",cgroup="%s"} == 1'
            % (instance, cgroup)), 30, interval=0.5, what="the OOM kill in Prometheus")
    wait_until(lambda: prom.query(
        'nodehealth_condition{instance="%s",type="RecentOOMKills",status="True"} == 1'
        % instance), 30, interval=0.5, what="RecentOOMKills True in Prometheus")


def load(name):
    with open(os.path.join(DASHBOARDS, name)) as f:
        return json.load(f)


def panel(dashboard, title):
    return next(p for p in all_panels(dashboard) if p["title"] == title)


def all_panels(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for p in dashboard.get("panels", []):
        yield p
        for q in p.get("panels", []):
            yield q


def queries(dashboard):
    """(panel title, refId, expr, instant) of every panel target and annotation query."""
    for p in all_panels(dashboard):
        for t in p.get("targets", []):
            yield p["title"], t["refId"], t["expr"], bool(t.get("instant"))
    for a in dashboard["annotations"]["list"]:
        if "expr" in a:
            yield "annotation " + a["name"], "expr", a["expr"], False


def substitute(expr, instance, node=ALL_NODES):
    for k, v in INTERVALS.items():
        expr = expr.replace(k, v)
    expr = expr.replace("${instance}", instance).replace("$instance", instance)
    expr = expr.replace("${node}", node).replace("$node", node)
    assert "$" not in expr, "unsubstituted variable in " + expr
    return expr


def exported_families(text):
    return set(re.findall(r"^# TYPE (\w+)", text, re.M))


def declared_families():
    """The family names the agent's sources spell out (a family without samples, such as the
    forecast on an idle node, is left out of a scrape, so a scrape alone does not list them)."""
    declared = set()
    for top, _, files in os.walk(os.path.join(ROOT, "agent")):
        for name in files:
            if name.endswith(".cpp"):
                with open(os.path.join(top, name)) as f:
                    declared |= set(re.findall(r'"((?:nodehealth|process)_\w+)"', f.read()))
    return declared


def metrics_in(expr):
    """The agent's families an expression reads (a histogram's _bucket/_sum/_count as the
    family)."""
    return {re.sub(r"_(bucket|sum|count)$", "", m)
            for m in re.findall(r"\b((?:nodehealth|process)_\w+)", expr)}


class Prometheus:
    """Debian's prometheus on loopback, scraping the given targets every second and evaluating
    the given rule files every second. A target is "host:port", or ("host:port", {labels}) for
    target labels (the node label the ServiceMonitor's relabelling sets)."""

    def __init__(self, targets, workdir, rule_files=()):
        self.targets = targets
        self.rule_files = list(rule_files)
        self.workdir = workdir
        self.port = None
        self.proc = None

    def __enter__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = os.path.join(self.workdir, "prometheus.yml")
        groups = []
        for t in self.targets:
            addr, labels = (t, {}) if isinstance(t, str) else t
            groups.append("      - targets: [%s]\n" % json.dumps(addr) +
                          ("        labels: %s\n" % json.dumps(labels) if labels else ""))
        write(cfg, """global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: nodehealth
    static_configs:
%s""" % (", ".join(json.dumps(f) for f in self.rule_files), "".join(groups)))
        self.log = open(os.path.join(self.workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file", cfg, "--storage.tsdb.path",
             os.path.join(self.workdir, "data"), "--web.listen-address",
             "127.0.0.1:%d" % self.port], stdout=subprocess.DEVNULL, stderr=self.log)
        wait_until(lambda: http_get(self.port, "/-/ready")[0] == 200, 60, interval=0.5,
                   what="prometheus ready")
        return self

    def api(self, path, **params):
        code, _, body = http_get(self.port, path + "?" + urllib.parse.urlencode(params),
                                 timeout=30)
        doc = json.loads(body)
        return code, doc

    def query(self, expr):
        """The result list of an instant query; raises with Prometheus's error otherwise."""
        code, doc = self.api("/api/v1/query", query=expr)
        if code != 200 or doc.get("status") != "success":
            raise AssertionError("%s: %s" % (expr, doc.get("error", doc)))
        return doc["data"]["result"]

    def query_range(self, expr, seconds=60, step=2):
        end = time.time()
        code, doc = self.api("/api/v1/query_range", query=expr, start="%.3f" % (end - seconds),
                             end="%.3f" % end, step=str(step))
        if code != 200 or doc.get("status") != "success":
            raise AssertionError("%s: %s" % (expr, doc.get("error", doc)))
        return doc["data"]["result"]

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return False


class DashboardQueriesTest(unittest.TestCase):
    """Every query of both dashboards against Prometheus scraping real agents."""

    @classmethod
    def setUpClass(cls):
        need_binary("prometheus")
        need_binary("openssl")
        cls.work = tempfile.mkdtemp(prefix="nodehealth-e2e-dash-")
        cls.stack = contextlib.ExitStack()
        try:
            # The node agent as on a Kubernetes node: the API, a kubelet file, a checkpoint
            # directory (root-owned 0700, as it should be).
            cls.standin = cls.stack.enter_context(StandIn(make_pki(cls.work)))
            cls.standin.add_node(NODE)
            kubeconfig = cls.standin.kubeconfig(os.path.join(cls.work, "kubeconfig"),
                                                token="test-token")
            kubelet = os.path.join(cls.work, "kubelet-config.yaml")
            write(kubelet, KUBELET_CONFIG)
            checkpoints = os.path.join(cls.work, "checkpoints")
            os.mkdir(checkpoints, 0o700)
            config = NODE_CONFIG.replace("KUBELET_CONFIG", kubelet).replace(
                "CHECKPOINT_DIR", checkpoints)
            cls.agent = cls.stack.enter_context(Agent("--kubeconfig", kubeconfig, config=config))
            cls.fixture_agent = cls.stack.enter_context(
                Agent("--host-root", os.path.join(FIXTURES, "cgroup-v2"), "--node-name",
                      "fixture-node", config=FIXTURE_CONFIG))
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.fixture_instance = "127.0.0.1:%d" % cls.fixture_agent.port
            # The node agent's target labelled as the ServiceMonitor labels it; the fixture
            # agent's not, as a plain host's static target.
            cls.prom = cls.stack.enter_context(
                Prometheus([(cls.instance, {"node": NODE}), cls.fixture_instance], cls.work))
            wait_until(lambda: len(cls.prom.query('up{job="nodehealth"} == 1')) == 2, 60,
                       interval=0.5, what="both agents scraped")
            wait_until(lambda: cls.standin.conditions(NODE), 60, interval=0.5,
                       what="the node agent's conditions in the API")
            # The trend (and so the forecast line) needs about 35s of history in the agent.
            wait_until(lambda: cls.prom.query(
                'nodehealth_signal_trend_per_second{instance="%s"}' % cls.instance), 150,
                interval=1, what="the agent's signal trend in Prometheus")
            # rate() over [10s] needs two scrapes of the kubepods counters in the window.
            wait_until(lambda: cls.prom.query(
                'rate(nodehealth_psi_stall_seconds_total{instance="%s",scope="kubepods"}[10s])'
                % cls.fixture_instance), 60, interval=0.5, what="kubepods PSI rate")
            # The PIDs forecast line: pid.available's trend (it has a threshold here).
            wait_until(lambda: cls.prom.query(
                'nodehealth_signal_trend_per_second{instance="%s",signal="pid.available"}'
                % cls.instance), 60, interval=1, what="the pid.available trend")
            make_probe_data(cls.prom, cls.instance)
        except BaseException:
            cls.stack.close()
            shutil.rmtree(cls.work, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()
        shutil.rmtree(cls.work, ignore_errors=True)

    def run_queries(self, name, instance, node=ALL_NODES):
        dash = load(name)
        uid = dash["uid"]
        checked = 0
        empty = []
        for title, ref, expr, instant in queries(dash):
            with self.subTest(dashboard=uid, panel=title, refId=ref, node=node):
                q = substitute(expr, instance, node)
                result = self.prom.query(q) if instant else self.prom.query_range(q)
                checked += 1
                if result:
                    continue
                key = (uid, title, ref)
                if key in MAY_BE_EMPTY:
                    empty.append("%s %s: %s" % (title, ref, MAY_BE_EMPTY[key]))
                    continue
                if uid == "nodehealth-fleet" and node == NODE and title in FLEET_KUBEPODS_PANELS:
                    empty.append("%s %s: this machine's node has no kubepods cgroup" % (title, ref))
                    continue
                if uid == "nodehealth-node" and title in KUBEPODS_PANELS:
                    # This node has no cgroup v2 kubepods cgroup: the fixture node must have data.
                    q2 = substitute(expr, self.fixture_instance)
                    result = self.prom.query(q2) if instant else self.prom.query_range(q2)
                    self.assertTrue(result, "no data for the fixture node either: " + q2)
                    continue
                self.fail("no data: %s" % q)
        return checked, empty

    def test_node_dashboard_queries_return_data(self):
        checked, empty = self.run_queries("nodehealth-node.json", self.instance)
        self.assertGreaterEqual(checked, 30)
        for line in empty:
            print("  empty as allowed: " + line)

    def test_node_dashboard_with_the_node_picked(self):
        # node = the node label, instance = what the instance variable then offers.
        (instance,) = self.variable_values("nodehealth-node.json", "instance", NODE)
        self.assertEqual(instance, self.instance)
        checked, _ = self.run_queries("nodehealth-node.json", instance, NODE)
        self.assertGreaterEqual(checked, 30)

    def test_node_dashboard_on_the_fixture_node(self):
        # The same dashboard for the node with a kubepods cgroup: every kubepods panel has data.
        dash = load("nodehealth-node.json")
        for title, ref, expr, instant in queries(dash):
            if title not in KUBEPODS_PANELS:
                continue
            with self.subTest(panel=title, refId=ref):
                q = substitute(expr, self.fixture_instance)
                self.assertTrue(self.prom.query(q) if instant else self.prom.query_range(q), q)

    def test_fleet_dashboard_queries_return_data(self):
        both = "%s|%s" % (self.instance, self.fixture_instance)
        checked, empty = self.run_queries("nodehealth-fleet.json", both)
        self.assertGreaterEqual(checked, 20)
        for line in empty:
            print("  empty as allowed: " + line)
        # One node picked: its agent's panels have data, and only that agent is counted.
        checked, _ = self.run_queries("nodehealth-fleet.json", ".+", NODE)
        self.assertGreaterEqual(checked, 20)
        reporting = next(t["expr"] for t in panel(load("nodehealth-fleet.json"),
                                                   "Agents reporting")["targets"])
        self.assertEqual(self.prom.query(substitute(reporting, ".+", NODE))[0]["value"][1], "1")
        self.assertEqual(self.prom.query(substitute(reporting, ".+"))[0]["value"][1], "2")

    def test_fleet_sees_both_nodes(self):
        # "All" of the instance variable is the regex .+, of the node variable .* (allValue):
        # together they keep the target without a node label.
        dash = load("nodehealth-fleet.json")
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["instance"]["allValue"], ".+")
        self.assertEqual(variables["node"]["allValue"], ALL_NODES)
        got = self.prom.query('count(nodehealth_build_info{instance=~"%s",node=~"%s"})'
                              % (variables["instance"]["allValue"], variables["node"]["allValue"]))
        self.assertEqual(got[0]["value"][1], "2")

    def variable_values(self, dashboard, name, node=ALL_NODES):
        """What Grafana offers for a label_values(metric{matchers}, label) variable: a series
        lookup (/api/v1/label/<label>/values with match[]), $node substituted."""
        var = next(v for v in load(dashboard)["templating"]["list"] if v["name"] == name)
        self.assertEqual(var["query"], var["definition"])
        m = re.fullmatch(r"label_values\((\w+(?:\{[^}]*\})?), *(\w+)\)", var["definition"])
        self.assertIsNotNone(m, var["definition"])
        code, doc = self.prom.api("/api/v1/label/%s/values" % m.group(2),
                                  **{"match[]": m.group(1).replace("$node", node)})
        self.assertEqual(code, 200, doc)
        return sorted(doc["data"])

    def test_node_variable_lists_the_labelled_nodes(self):
        # The node label the ServiceMonitor sets; the plain-host target has none to list.
        for name in UIDS:
            self.assertEqual(self.variable_values(name, "node"), [NODE], name)

    def test_instance_variable_follows_the_node(self):
        for name in UIDS:
            # All nodes: both agents, the unlabelled one included.
            self.assertEqual(self.variable_values(name, "instance"),
                             sorted([self.instance, self.fixture_instance]), name)
            # A node picked: its agent only.
            self.assertEqual(self.variable_values(name, "instance", NODE), [self.instance], name)

    def test_every_exported_family_is_shown_or_excused(self):
        # A live scrape of both agents (the node agent with its Kubernetes sink, kubelet file
        # and checkpoint directory), and the families the agent's sources declare.
        families = (exported_families(self.agent.metrics()) |
                    exported_families(self.fixture_agent.metrics()) | declared_families())
        self.assertIn("nodehealth_kubernetes_up", families)
        self.assertIn("nodehealth_allowed_unsafe_sysctl", families)
        self.assertIn("process_resident_memory_bytes", families)
        shown = set()
        for name in UIDS:
            for _, _, expr, _ in queries(load(name)):
                shown |= metrics_in(expr)
        missing = sorted(f for f in families if f not in shown and f not in NOT_SHOWN)
        self.assertEqual(missing, [], "in no panel and not in NOT_SHOWN")
        # NOT_SHOWN names only families that exist and are really not shown.
        self.assertLessEqual(set(NOT_SHOWN), families)
        self.assertEqual(set(NOT_SHOWN) & shown, set())


class DashboardStructureTest(unittest.TestCase):
    """The JSON provisions as it is: datasource variable, stable uids, unique ids, units."""

    def test_files_and_uids(self):
        names = sorted(n for n in os.listdir(DASHBOARDS) if n.endswith(".json"))
        self.assertEqual(names, sorted(UIDS))
        for name, uid in UIDS.items():
            d = load(name)
            self.assertEqual(d["uid"], uid, name)
            self.assertIsNone(d.get("id"), name + ": a provisioned dashboard carries no id")
            self.assertTrue(d["title"].startswith("nodehealth / "), name)

    def test_no_import_placeholders(self):
        for name in UIDS:
            with open(os.path.join(DASHBOARDS, name)) as f:
                text = f.read()
            self.assertNotIn("${DS_", text, name)
            self.assertNotIn("__inputs", text, name)
            self.assertNotIn("__requires", text, name)

    def test_template_variables(self):
        for name in UIDS:
            variables = {v["name"]: v for v in load(name)["templating"]["list"]}
            ds = variables["datasource"]
            self.assertEqual((ds["type"], ds["query"]), ("datasource", "prometheus"), name)
            node = variables["node"]
            self.assertEqual((node["type"], node["datasource"]), ("query", DATASOURCE), name)
            self.assertEqual(node["definition"], "label_values(nodehealth_build_info, node)")
            self.assertEqual(node["query"], node["definition"])
            # All must match a target without a node label (a plain host): .*, not .+
            self.assertEqual((node["includeAll"], node["allValue"]), (True, ALL_NODES), name)
            inst = variables["instance"]
            self.assertEqual(inst["type"], "query", name)
            self.assertEqual(inst["datasource"], DATASOURCE, name)
            self.assertEqual(inst["definition"],
                             'label_values(nodehealth_build_info{node=~"$node"}, instance)')
            self.assertEqual(inst["query"], inst["definition"])
            names = [v["name"] for v in load(name)["templating"]["list"]]
            self.assertLess(names.index("node"), names.index("instance"), "instance follows node")
            # Every selector of the agent's series that picks the instance picks the node too.
            for title, ref, expr, _ in queries(load(name)):
                for sel in re.findall(r"\{[^{}]*\$instance[^{}]*\}", expr):
                    self.assertIn('node=~"$node"', sel, "%s: %s %s" % (name, title, ref))

    def test_panels(self):
        for name in UIDS:
            d = load(name)
            ids = [p["id"] for p in all_panels(d)]
            self.assertEqual(len(ids), len(set(ids)), name + ": panel ids must be unique")
            titles = [p["title"] for p in all_panels(d) if p["type"] != "row"]
            self.assertEqual(len(titles), len(set(titles)), name + ": panel titles are unique")
            cells = set()
            for p in all_panels(d):
                g = p["gridPos"]
                self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
                for y in range(g["y"], g["y"] + g["h"]):
                    for x in range(g["x"], g["x"] + g["w"]):
                        self.assertNotIn((x, y), cells, name + ": overlap at " + p["title"])
                        cells.add((x, y))
                if p["type"] == "row":
                    continue
                with self.subTest(dashboard=name, panel=p["title"]):
                    self.assertEqual(p["datasource"], DATASOURCE)
                    self.assertTrue(p["fieldConfig"]["defaults"].get("unit"), "unit not set")
                    self.assertTrue(p.get("description"), "no description")
                    self.assertTrue(p["targets"], "no targets")
                    refs = [t["refId"] for t in p["targets"]]
                    self.assertEqual(len(refs), len(set(refs)))
                    for t in p["targets"]:
                        self.assertEqual(t["datasource"], DATASOURCE)
                        self.assertTrue(t["expr"].strip())
            for a in d["annotations"]["list"]:
                if "expr" in a:
                    self.assertEqual(a["datasource"], DATASOURCE, a["name"])

    def test_every_datasource_reference_is_the_variable(self):
        def walk(node, path):
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "datasource" and isinstance(v, dict) and v.get("type") == "prometheus":
                        self.assertEqual(v, DATASOURCE, path)
                    elif k == "datasource" and isinstance(v, str):
                        self.fail("%s: datasource given by name %r" % (path, v))
                    walk(v, path + "/" + k)
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, "%s/%d" % (path, i))
        for name in UIDS:
            walk(load(name), name)

    def test_queries_use_only_metrics_the_agent_exports(self):
        # The families the agent declares, and those it serves now.
        declared = declared_families()
        with Agent() as agent:
            exported = exported_families(agent.metrics())
        self.assertLessEqual(exported - set(NOT_SHOWN), declared)
        for name in UIDS:
            for title, ref, expr, _ in queries(load(name)):
                for metric in metrics_in(expr):
                    self.assertIn(metric, declared, "%s: %s %s" % (name, title, ref))

if __name__ == "__main__":
    unittest.main()
