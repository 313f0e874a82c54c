"""The alerting rules in dashboards/alerts.yaml: `promtool check rules`, the promtool unit tests
in tests/alerts/ (a firing and a not-firing case for every alert), deploy/prometheus-operator/prometheus-rule.yaml
identical in content (rendered from the rule file, and compared as Prometheus loads both), and
the rules evaluated by Debian's prometheus against the real agent, with conditions forced True,
rendering their annotations without a template error, and against a real agent whose Kubernetes
sink the API stand-in (kube_standin.py) refuses to let patch its Node (403 on nodes/status):
NodehealthKubernetesWritesFailing goes pending with the refused requests in its description,
and goes away once the patches are allowed again.

deploy/prometheus-operator/prometheus-rule.yaml is rendered from dashboards/alerts.yaml; after editing the rules,
  UPDATE_PROMETHEUS_RULE=1 python3 tests/e2e/run.py test_alerts.py
rewrites it (review the diff)."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import Agent, BIN, ROOT, need, need_binary, need_root, wait_until, write
from kube_standin import StandIn, make_pki
from test_dashboards import Prometheus

RULES = os.path.join(ROOT, "dashboards", "alerts.yaml")
PROMETHEUS_RULE = os.path.join(ROOT, "deploy", "prometheus-operator", "prometheus-rule.yaml")
UNIT_TESTS = sorted(glob.glob(os.path.join(ROOT, "tests", "alerts", "*.yaml")))
# The condition types the agent writes (README, Conditions; agent/eval/evaluator.h); the
# Kubepods ones only on a node with a cgroup v2 kubepods cgroup, KernelRequirementsMissing only
# with requiredFeatures or a kubelet configuration, the last four with their probes.
CONDITION_TYPES = ["MemoryPressure", "DiskPressure", "PIDPressure", "DefaultRouteUnavailable",
                   "MemoryContention", "DiskContention", "KubepodsMemoryContention",
                   "KubepodsDiskContention", "MemoryEvictionImminent", "DiskEvictionImminent",
                   "PIDEvictionImminent", "CheckpointArchivesExposed", "KernelRequirementsMissing",
                   "RecentOOMKills", "ForkStorm", "SlowDisk", "PacketDrops"]

PROMETHEUS_RULE_HEADER = """\
# The alerting rules of dashboards/alerts.yaml as a PrometheusRule for the Prometheus Operator.
# Rendered from dashboards/alerts.yaml, do not edit by hand: edit that file, then run
#   UPDATE_PROMETHEUS_RULE=1 python3 tests/e2e/run.py test_alerts.py
# (tests/e2e/test_alerts.py checks that both carry the same groups). The runbook of every alert is
# in the README. Apply in the namespace your Prometheus's ruleSelector watches.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: nodehealth
  labels:
    app.kubernetes.io/name: nodehealth
    app.kubernetes.io/component: alerting-rules
spec:
"""


def read(path):
    with open(path) as f:
        return f.read()


def render_prometheus_rule(rules_text):
    """The PrometheusRule: the header, then the rule file from `groups:` on under `spec:`."""
    lines = rules_text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("groups:"))
    body = "".join(("  " + l if l.strip() else "") + "\n" for l in lines[start:])
    return PROMETHEUS_RULE_HEADER + body


def spec_of(prometheus_rule_text):
    """The `spec:` block of a PrometheusRule, de-indented: a rule file."""
    lines = prometheus_rule_text.splitlines()
    start = lines.index("spec:") + 1
    out = []
    for l in lines[start:]:
        if l.strip() and not l.startswith("  "):
            break
        out.append(l[2:])
    return "\n".join(out) + "\n"


def prometheus_rule_text():
    """deploy/prometheus-operator/prometheus-rule.yaml, rewritten first when UPDATE_PROMETHEUS_RULE=1."""
    if os.environ.get("UPDATE_PROMETHEUS_RULE") == "1":
        write(PROMETHEUS_RULE, render_prometheus_rule(read(RULES)))
    return read(PROMETHEUS_RULE)


def alert_names(rules_text):
    return re.findall(r"^\s*- alert: (\w+)\s*$", rules_text, re.M)


def unit_test_cases(text):
    """(alertname, firing) of every alert_rule_test case of a promtool test file (this
    directory's layout: `alertname:` then `exp_alerts: []` or `exp_alerts:` and a list)."""
    cases = []
    for m in re.finditer(r"^\s*alertname: (\w+)\n\s*exp_alerts:(.*)$", text, re.M):
        cases.append((m.group(1), m.group(2).strip() != "[]"))
    return cases


def promtool(*args):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


class AlertRulesTest(unittest.TestCase):
    def test_promtool_check_rules(self):
        need_binary("promtool")
        r = promtool("check", "rules", RULES)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        n = len(alert_names(read(RULES)))
        self.assertIn("SUCCESS: %d rules found" % n, r.stdout)

    def test_promtool_unit_tests(self):
        need_binary("promtool")
        self.assertTrue(UNIT_TESTS, "no promtool unit tests in tests/alerts/")
        r = promtool("test", "rules", *UNIT_TESTS)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("SUCCESS"), len(UNIT_TESTS), r.stdout)

    def test_every_alert_has_firing_and_not_firing_cases(self):
        cases = set()
        for path in UNIT_TESTS:
            cases |= set(unit_test_cases(read(path)))
        names = alert_names(read(RULES))
        self.assertGreaterEqual(len(names), len(CONDITION_TYPES) + 5)
        for name in names:
            self.assertIn((name, True), cases, name + ": no firing case in tests/alerts/")
            self.assertIn((name, False), cases, name + ": no not-firing case in tests/alerts/")
        self.assertLessEqual({n for n, _ in cases}, set(names), "a test for an unknown alert")

    def test_every_condition_has_an_alert(self):
        text = read(RULES)
        for ctype in CONDITION_TYPES:
            self.assertRegex(text, r'nodehealth_condition\{type="%s",status="True"\} == 1' % ctype)

    def test_prometheus_rule_is_rendered_from_the_rule_file(self):
        want = render_prometheus_rule(read(RULES))
        got = prometheus_rule_text()
        self.assertEqual(got, want, "deploy/prometheus-operator/prometheus-rule.yaml is out of date: run "
                         "UPDATE_PROMETHEUS_RULE=1 python3 tests/e2e/run.py test_alerts.py")
        self.assertIn("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\n", got)

    def test_prometheus_rule_passes_the_same_checks(self):
        # The groups of the PrometheusRule, as a rule file, pass promtool check and the same unit
        # tests (rule_files pointed at them).
        need_binary("promtool")
        work = tempfile.mkdtemp(prefix="nodehealth-e2e-rules-")
        try:
            spec = os.path.join(work, "spec.yaml")
            write(spec, spec_of(prometheus_rule_text()))
            r = promtool("check", "rules", spec)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            copies = []
            for path in UNIT_TESTS:
                text = read(path)
                self.assertIn("  - ../../dashboards/alerts.yaml\n", text, path)
                copy = os.path.join(work, os.path.basename(path))
                write(copy, text.replace("  - ../../dashboards/alerts.yaml\n", "  - spec.yaml\n"))
                copies.append(copy)
            r = promtool("test", "rules", *copies)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


FORCED_CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1s
# Thresholds no machine satisfies: MemoryPressure and DiskPressure True (hard thresholds, so the
# kubelet would be evicting), PIDPressure True from a soft threshold in its grace period.
evictionHard:
  memory.available: 1Ti
  nodefs.available: 1Pi
  nodefs.inodesFree: "5%"
evictionSoft:
  pid.available: "4000000"
evictionSoftGracePeriod:
  pid.available: 1h
# No network source: DefaultRouteUnavailable is Unknown.
sources:
  network: {enabled: false}
# A checkpoint directory the test made mode 0755: CheckpointArchivesExposed True for reason
# CheckpointDirectoryOpen (no archive in it).
checkpointDir: CHECKPOINT_DIR
# A feature this kernel lacks (`nodehealth features` asked first): KernelRequirementsMissing True.
requiredFeatures: [MISSING_FEATURE]
"""


class AlertRulesOnPrometheusTest(unittest.TestCase):
    """Prometheus loads dashboards/alerts.yaml and the PrometheusRule's groups side by side and
    scrapes a real agent whose thresholds are set so that conditions are True."""

    @classmethod
    def setUpClass(cls):
        need_binary("prometheus")
        cls.work = tempfile.mkdtemp(prefix="nodehealth-e2e-alerts-")
        try:
            spec = os.path.join(cls.work, "prometheus-rule-spec.yaml")
            write(spec, spec_of(prometheus_rule_text()))
            checkpoint_dir = os.path.join(cls.work, "checkpoints")
            os.mkdir(checkpoint_dir)
            os.chmod(checkpoint_dir, 0o755)
            r = subprocess.run([BIN, "features", "-o", "json"], capture_output=True, text=True,
                               timeout=60)
            unsupported = [f["name"] for f in json.loads(r.stdout)["features"]
                           if f["supported"] is False]
            need(unsupported, "this kernel supports every feature: KernelRequirementsMissing "
                              "cannot be forced True")
            cls.missing_feature = unsupported[0]
            config = FORCED_CONFIG.replace("CHECKPOINT_DIR", checkpoint_dir)
            cls.agent = Agent(config=config.replace("MISSING_FEATURE", cls.missing_feature)
                              ).__enter__()
            cls.instance = "127.0.0.1:%d" % cls.agent.port
            cls.prom = Prometheus([cls.instance], cls.work, rule_files=[RULES, spec]).__enter__()
            cls.rules = wait_until(cls._evaluated, 60, interval=0.5, what="rules evaluated")
            cls.alerts = wait_until(cls._alerts, 60, interval=0.5, what="the expected alerts")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for what in ("prom", "agent"):
            if getattr(cls, what, None) is not None:
                getattr(cls, what).__exit__(None, None, None)
                setattr(cls, what, None)
        shutil.rmtree(cls.work, ignore_errors=True)

    @classmethod
    def _evaluated(cls):
        code, doc = cls.prom.api("/api/v1/rules")
        groups = doc["data"]["groups"]
        done = groups and all(not r["lastEvaluation"].startswith("0001")
                              for g in groups for r in g["rules"])
        return groups if done else None

    EXPECTED = {("NodehealthMemoryPressure", "MemoryPressure"),
                ("NodehealthDiskPressure", "DiskPressure"),
                ("NodehealthPIDPressure", "PIDPressure"),
                ("NodehealthConditionUnknown", "DefaultRouteUnavailable"),
                ("NodehealthKubeletEvicting", "memory.available"),
                ("NodehealthKubeletEvicting", "nodefs.available"),
                ("NodehealthSoftEvictionThresholdMet", "pid.available"),
                ("NodehealthCheckpointArchivesExposed", "CheckpointArchivesExposed"),
                ("NodehealthKernelRequirementsMissing", "KernelRequirementsMissing")}

    @classmethod
    def _alerts(cls):
        code, doc = cls.prom.api("/api/v1/alerts")
        alerts = doc["data"]["alerts"]
        got = [(a["labels"]["alertname"], a["labels"].get("type") or a["labels"].get("signal"))
               for a in alerts]
        # each from both rule files (their groups are evaluated independently)
        return alerts if all(got.count(k) == 2 for k in cls.EXPECTED) else None

    def test_the_two_files_carry_the_same_groups(self):
        def canonical(g):
            return {"name": g["name"], "interval": g["interval"], "limit": g.get("limit"),
                    "rules": [{k: r.get(k) for k in ("name", "query", "duration", "labels",
                                                     "annotations", "type")}
                              for r in g["rules"]]}
        by_file = {}
        for g in self.rules:
            by_file.setdefault(os.path.basename(g["file"]), []).append(canonical(g))
        self.assertEqual(sorted(by_file), ["alerts.yaml", "prometheus-rule-spec.yaml"])
        a, b = by_file["alerts.yaml"], by_file["prometheus-rule-spec.yaml"]
        self.assertEqual(json.dumps(a, indent=1, sort_keys=True),
                         json.dumps(b, indent=1, sort_keys=True))
        self.assertEqual(sum(len(g["rules"]) for g in a), len(alert_names(read(RULES))))

    def test_every_rule_evaluates_without_error(self):
        for g in self.rules:
            for r in g["rules"]:
                with self.subTest(rule=r["name"]):
                    self.assertEqual(r["health"], "ok", r.get("lastError"))

    def test_every_alert_has_severity_for_and_texts(self):
        for g in self.rules:
            for r in g["rules"]:
                with self.subTest(rule=r["name"]):
                    self.assertEqual(r["type"], "alerting")
                    self.assertIn(r["labels"].get("severity"), ("critical", "warning"))
                    self.assertGreaterEqual(r["duration"], 30, "a `for` against flapping")
                    self.assertTrue(r["annotations"].get("summary"))
                    desc = r["annotations"].get("description", "")
                    self.assertTrue(desc)
                    if r["name"] != "NodehealthAgentAbsent":  # no instance to name
                        self.assertIn("{{ $labels.instance }}", desc)
                    self.assertNotIn("runbook_url", r["annotations"])

    def test_forced_conditions_raise_their_alerts_with_the_real_numbers(self):
        # Pending or firing (their `for` runs from now), with the annotations rendered.
        by_key = {}
        for a in self.alerts:
            key = (a["labels"]["alertname"], a["labels"].get("type") or a["labels"].get("signal"))
            by_key.setdefault(key, []).append(a)
        for key in sorted(self.EXPECTED):
            with self.subTest(alert=key):
                alerts = by_key[key]
                # once from each of the two files
                self.assertEqual(len(alerts), 2, alerts)
                a = alerts[0]
                self.assertIn(a["state"], ("pending", "firing"))
                self.assertEqual(a["labels"]["instance"], self.instance)
                for text in a["annotations"].values():
                    self.assertIn(self.instance, text)
                    self.assertNotIn("error", text.lower())
                    self.assertNotIn("<no value>", text)
        desc = by_key[("NodehealthMemoryPressure", "MemoryPressure")][0]["annotations"]
        self.assertRegex(desc["description"],
                         r"Available now: memory\.available [0-9.]+GiB; thresholds: "
                         r"allocatableMemory\.available hard 1TiB, memory\.available hard 1TiB\.")
        desc = by_key[("NodehealthKubeletEvicting", "nodefs.available")][0]["annotations"]
        self.assertRegex(desc["description"], r"nodefs\.available on \S+ is [0-9.]+[KMGT]iB, "
                         r"below .* Thresholds: hard 1PiB\.")
        desc = by_key[("NodehealthSoftEvictionThresholdMet", "pid.available")][0]["annotations"]
        self.assertRegex(desc["description"], r"pid\.available on \S+ is [0-9.]+k?, below its "
                         r"soft eviction threshold; .* Soft threshold: 4M\.")
        desc = by_key[("NodehealthConditionUnknown", "DefaultRouteUnavailable")][0]
        self.assertIn("No source is down: the one it needs is disabled",
                      desc["annotations"]["description"])
        desc = by_key[("NodehealthCheckpointArchivesExposed", "CheckpointArchivesExposed")][0]
        self.assertIn("Archives readable or writable by others: 0; directory: not root-owned 0700",
                      desc["annotations"]["description"])
        desc = by_key[("NodehealthKernelRequirementsMissing", "KernelRequirementsMissing")][0]
        self.assertRegex(desc["annotations"]["description"],
                         r"Features this kernel lacks: ([a-z_0-9]+ \(by (probe|version)\), )*"
                         r"%s \(by (probe|version)\)" % self.missing_feature)

    def test_a_healthy_agent_raises_no_agent_alert(self):
        # NodehealthAgentAbsent can be pending from an evaluation before the first scrape; once
        # the agent is scraped no agent alert is active.
        agent_alerts = {"NodehealthAgentAbsent", "NodehealthAgentDown", "NodehealthAgentStale",
                        "NodehealthSourceDown"}

        def none_active():
            code, doc = self.prom.api("/api/v1/alerts")
            names = {a["labels"]["alertname"] for a in doc["data"]["alerts"]}
            return not names & agent_alerts or None
        wait_until(none_active, 20, interval=0.5, what="no agent alert active")


KUBE_NODE = "nodehealth-test-alert-node"
KUBE_CONFIG = """apiVersion: nodehealth.io/v1alpha1
kind: AgentConfiguration
sampleInterval: 1s
nodeName: %s
probes:
  enabled: false
""" % KUBE_NODE


class KubernetesAlertOnPrometheusTest(unittest.TestCase):
    """NodehealthKubernetesWritesFailing against the real agent's Kubernetes sink: its `for` is
    10m, so the test sees it pending (what promtool's tests/alerts/kubernetes.test.yaml takes
    to firing), with the real metric names, labels and annotation queries."""

    def test_refused_status_patches_raise_the_alert_and_allowed_ones_clear_it(self):
        need_root()
        need_binary("prometheus")
        need_binary("openssl")
        work = tempfile.mkdtemp(prefix="nodehealth-e2e-kube-alert-")
        self.addCleanup(shutil.rmtree, work, True)
        pki = make_pki(work)
        with StandIn(pki) as s:
            s.add_node(KUBE_NODE)
            s.forbidden = {r"^/api/v1/nodes/[^/]+/status$"}  # a role without patch nodes/status
            kubeconfig = s.kubeconfig(os.path.join(work, "kubeconfig"), token="test-token")
            with Agent("--kubeconfig", kubeconfig, config=KUBE_CONFIG) as agent, \
                    Prometheus(["127.0.0.1:%d" % agent.port], work, rule_files=[RULES]) as prom:
                instance = "127.0.0.1:%d" % agent.port

                def alert():
                    code, doc = prom.api("/api/v1/alerts")
                    got = [a for a in doc["data"]["alerts"]
                           if a["labels"]["alertname"] == "NodehealthKubernetesWritesFailing"]
                    # The description's counts need two scrapes of the failures.
                    if got and re.search(r" x[0-9]+\.$", got[0]["annotations"]["description"]):
                        print("  pending: " + got[0]["annotations"]["description"])
                        return got
                    return None
                (a,) = wait_until(alert, 60, interval=0.5, what="the alert pending")
                self.assertEqual(a["state"], "pending")
                self.assertEqual(a["labels"]["instance"], instance)
                self.assertEqual(a["labels"]["severity"], "warning")
                desc = a["annotations"]["description"]
                self.assertNotIn("<no value>", desc)
                # The GET of the Node worked (adopted), the status patches are refused.
                self.assertRegex(desc, r"next retry in [0-9.]+m?s\): ")
                self.assertRegex(desc, r"Last successful API request: [0-9.]+s ago\.")
                self.assertRegex(desc, r"Failed requests in the last 10m: "
                                       r"patch nodes/status 403 x[0-9]+\.$")
                self.assertIn(instance, a["annotations"]["summary"])
                self.assertTrue(s.requests("PATCH", r"/status$"), "no patch reached the API")
                self.assertTrue(all(r["code"] == 403 for r in s.requests("PATCH", r"/status$")))

                # The role fixed: the next retry patches, the backoff is 0, the alert is gone.
                s.forbidden = set()
                wait_until(lambda: not prom.query(
                    'ALERTS{alertname="NodehealthKubernetesWritesFailing"}'), 60, interval=0.5,
                    what="the alert gone once the patch is allowed")
                self.assertTrue(s.conditions(KUBE_NODE), "no condition written after the fix")
                self.assertEqual(prom.query(
                    'nodehealth_kubernetes_backoff_seconds{instance="%s"}' % instance)[0]["value"][1], "0")


if __name__ == "__main__":
    unittest.main()
