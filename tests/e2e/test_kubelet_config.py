"""`nodehealth kubelet-config` on the real binary: the kubelet's --config file and --config-dir
drop-ins merged as the kubelet merges them (facts §4), the kubelet's defaults applied after the
merge, printed as YAML or JSON; refused configurations exit 2 with the kubelet's own texts."""
import json
import os
import shutil
import tempfile
import unittest

from harness import FIXTURES, run_cli, write

KUBELET = os.path.join(FIXTURES, "kubelet")
KUBEADM = os.path.join(KUBELET, "kubeadm")
HEADER = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


def read(path):
    with open(path) as f:
        return f.read()


class KubeadmFixtureTest(unittest.TestCase):
    """tests/fixtures/kubelet/kubeadm: kubeadm's config.yaml plus a drop-in directory."""

    def args(self, *extra):
        return ("kubelet-config", "--config", os.path.join(KUBEADM, "config.yaml"),
                "--config-dir", os.path.join(KUBEADM, "conf.d"), *extra)

    def test_json_is_the_expected_effective_configuration(self):
        r = run_cli(*self.args("-o", "json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        out = json.loads(r.stdout)
        self.assertEqual(out, json.loads(read(os.path.join(KUBEADM, "expected.json"))))
        # kubeadm's explicit zeros come back as the kubelet's defaults.
        self.assertEqual(out["syncFrequency"], "1m0s")
        self.assertEqual(out["authorization"]["webhook"]["cacheAuthorizedTTL"], "5m0s")
        self.assertEqual(out["containerRuntimeEndpoint"], "unix:///run/containerd/containerd.sock")
        self.assertEqual(out["logging"]["flushFrequency"], "5s")
        # kubeadm's own values stay.
        self.assertEqual(out["cgroupDriver"], "systemd")
        self.assertEqual(out["staticPodPath"], "/etc/kubernetes/manifests")
        # Drop-ins: evictionHard filled by mergeDefaultEvictionSettings, the list replaced whole,
        # the subdirectory applied at its position, README and *.conf.bak ignored.
        self.assertEqual(out["evictionHard"], {
            "memory.available": "500Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%",
            "imagefs.available": "15%", "imagefs.inodesFree": "5%"})
        self.assertEqual(out["evictionSoftGracePeriod"], {"memory.available": "1m30s",
                                                          "nodefs.available": "2m"})
        self.assertEqual(out["evictionPressureTransitionPeriod"], "2m0s")
        self.assertEqual(out["clusterDNS"], ["169.254.20.10", "10.96.0.10"])
        self.assertEqual(out["logging"]["verbosity"], 2)
        self.assertEqual(out["maxPods"], 110)
        self.assertEqual(out["kubeReserved"]["memory"], "256Mi")

    def test_yaml_is_the_expected_effective_configuration(self):
        expected = read(os.path.join(KUBEADM, "expected.yaml"))
        r = run_cli(*self.args())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, expected)
        r = run_cli(*self.args("-o", "yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, expected)
        # Keys in bytewise order, as the kubelet serializes them.
        top = [line.split(":")[0] for line in expected.splitlines()
               if line and not line.startswith((" ", "-"))]
        self.assertEqual(top, sorted(top))
        self.assertIn("evictionHard:\n  imagefs.available: 15%\n", expected)

    def test_json_output_is_stable(self):
        a = run_cli(*self.args("-o", "json"))
        b = run_cli(*self.args("--output=json"))
        self.assertEqual(a.stdout, b.stdout)


class ReferenceExamplesTest(unittest.TestCase):
    """The examples of kubernetes-node-reference.txt, "Kubelet Configuration Directory Merging"."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="nodehealth-e2e-kubelet-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def effective(self, main, dropins):
        config = os.path.join(self.dir, "config.yaml")
        write(config, HEADER + main)
        for name, text in dropins.items():
            write(os.path.join(self.dir, "conf.d", name), HEADER + text)
        os.makedirs(os.path.join(self.dir, "conf.d"), exist_ok=True)
        r = run_cli("kubelet-config", "--config", config,
                    "--config-dir", os.path.join(self.dir, "conf.d"), "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_structure_fields(self):
        out = self.effective(
            "port: 20250\nauthorization:\n  mode: Webhook\n  webhook:\n"
            "    cacheAuthorizedTTL: \"5m\"\n    cacheUnauthorizedTTL: \"30s\"\n"
            "serializeImagePulls: false\naddress: \"192.168.0.1\"\n",
            {"10-auth.conf": "authorization:\n  mode: AlwaysAllow\n  webhook:\n"
                             "    cacheAuthorizedTTL: \"8m\"\n    cacheUnauthorizedTTL: \"45s\"\n"
                             "address: \"192.168.0.8\"\n"})
        self.assertEqual(out["port"], 20250)
        self.assertEqual(out["serializeImagePulls"], False)
        self.assertEqual(out["authorization"], {"mode": "AlwaysAllow", "webhook": {
            "cacheAuthorizedTTL": "8m0s", "cacheUnauthorizedTTL": "45s"}})
        self.assertEqual(out["address"], "192.168.0.8")
        self.assertEqual(out["healthzPort"], 10248)  # a default

    def test_lists_are_replaced(self):
        out = self.effective(
            "port: 20250\nserializeImagePulls: false\nclusterDNS:\n"
            "  - \"192.168.0.9\"\n  - \"192.168.0.8\"\n",
            {"20-dns.conf": "clusterDNS:\n  - \"192.168.0.2\"\n  - \"192.168.0.3\"\n"
                            "  - \"192.168.0.5\"\n"})
        self.assertEqual(out["clusterDNS"], ["192.168.0.2", "192.168.0.3", "192.168.0.5"])

    def test_maps_are_merged_per_key(self):
        out = self.effective(
            "port: 20250\nserializeImagePulls: false\nfeatureGates:\n  AllAlpha: false\n"
            "  MemoryQoS: true\nstaticPodURLHeader:\n  kubelet-api-support:\n"
            "  - \"Authorization: 234APSDFA\"\n  - \"X-Custom-Header: 123\"\n"
            "  custom-static-pod:\n  - \"Authorization: 223EWRWER\"\n  - \"X-Custom-Header: 456\"\n",
            {"30-gates.conf": "featureGates:\n  MemoryQoS: false\n  KubeletTracing: true\n"
                              "  DynamicResourceAllocation: true\nstaticPodURLHeader:\n"
                              "  custom-static-pod:\n  - \"Authorization: 223EWRWER\"\n"
                              "  - \"X-Custom-Header: 345\"\n"})
        self.assertEqual(out["featureGates"], {"AllAlpha": False, "MemoryQoS": False,
                                               "KubeletTracing": True,
                                               "DynamicResourceAllocation": True})
        self.assertEqual(out["staticPodURLHeader"], {
            "kubelet-api-support": ["Authorization: 234APSDFA", "X-Custom-Header: 123"],
            "custom-static-pod": ["Authorization: 223EWRWER", "X-Custom-Header: 345"]})

    def test_order_subdirectories_and_null(self):
        out = self.effective(
            "maxPods: 100\nport: 20250\n",
            {"10.conf": "maxPods: 10\n", "9.conf": "maxPods: 9\n",
             "50-sub/00.conf": "clusterDomain: from-sub\n", "60.conf": "port: null\n",
             "70.yaml": "maxPods: 70\n"})
        self.assertEqual(out["maxPods"], 9)           # 9.conf sorts after 10.conf
        self.assertEqual(out["clusterDomain"], "from-sub")
        self.assertEqual(out["port"], 10250)          # deleted, then defaulted


class RefusedTest(unittest.TestCase):
    def test_soft_threshold_without_grace_period(self):
        config = os.path.join(KUBELET, "soft-without-grace", "config.yaml")
        r = run_cli("kubelet-config", "--config", config)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "nodehealth: invalid kubelet configuration: " + config +
                         ":5: evictionSoft[memory.available]: grace period must be specified "
                         "for the soft eviction threshold memory.available\n")

    def test_empty_drop_in(self):
        case = os.path.join(KUBELET, "empty-drop-in")
        r = run_cli("kubelet-config", "--config", os.path.join(case, "config.yaml"),
                    "--config-dir", os.path.join(case, "conf.d"), "-o", "json")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "nodehealth: invalid kubelet configuration: kubelet config "
                         "file \"" + os.path.join(case, "conf.d", "10-empty.conf") +
                         "\" was empty\n")

    def test_missing_files(self):
        r = run_cli("kubelet-config", "--config", os.path.join(KUBELET, "nope.yaml"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("No such file or directory", r.stderr)
        r = run_cli("kubelet-config", "--config", os.path.join(KUBEADM, "config.yaml"),
                    "--config-dir", os.path.join(KUBELET, "nope.d"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("failed to walk through kubelet dropin directory", r.stderr)

    def test_usage_errors_and_help(self):
        r = run_cli("kubelet-config", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("Usage: nodehealth kubelet-config", r.stdout)
        for flag in ("--config FILE", "--config-dir DIR", "-o, --output FORMAT"):
            self.assertIn(flag, r.stdout)
        r = run_cli("kubelet-config")
        self.assertEqual(r.returncode, 2)
        self.assertIn("needs --config FILE", r.stderr)
        r = run_cli("kubelet-config", "--config", os.path.join(KUBEADM, "config.yaml"),
                    "-o", "table")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "nodehealth: -o: want yaml or json, got \"table\"\n")
        r = run_cli("kubelet-config", "--kubeconfig", "x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown flag --kubeconfig", r.stderr)


if __name__ == "__main__":
    unittest.main()
