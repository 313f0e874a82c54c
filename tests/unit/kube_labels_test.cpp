// Kubernetes label syntax (agent/kube/labels.h) and the sink's feature labels
// (agent/sinks/node_labels.h): the mapping of a features report to labels, on the el8 fixture
// (versions and probes disagreeing, one verdict unknown) and on hand-made reports, and the
// change computation that adopts, adds, removes and leaves alone.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "agent/features/features.h"
#include "agent/kube/labels.h"
#include "agent/sinks/node_labels.h"

using namespace nodehealth;
using sinks::Labels;

namespace {

std::string why(const Result<void>& r) { return r ? std::string("ok") : r.error().message; }

}  // namespace

TEST_CASE("label keys: prefix a DNS subdomain, name 1..63 of [A-Za-z0-9-_.]", "[kube][labels]") {
  for (const char* ok :
       {"a", "A", "0", "app", "MyName", "my.name", "123-abc", "a_b", "a-b.c_D9", "example.com/x",
        "feature.nodehealth.io/cgroup_v2",
        "sysctl.nodehealth.io/net.ipv4.ip_unprivileged_port_start", "kubernetes.io/hostname",
        "node-role.kubernetes.io/control-plane", "a.b-c.d/e", "1.2.3/x"}) {
    INFO(ok);
    CHECK(why(kube::validate_label_key(ok)) == "ok");
  }
  // Exactly 63 characters of name, exactly 253 of prefix: accepted; one more: not.
  const std::string n63(63, 'a');
  CHECK(why(kube::validate_label_key(n63)) == "ok");
  CHECK(why(kube::validate_label_key(n63 + "a")) ==
        "name part: \"" + n63.substr(0, 63) + "a\" is longer than 63 characters (64)");
  std::string p253;
  while (p253.size() < 253) p253 += p253.empty() ? "a" : ".a";  // a.a.a... (odd length)
  REQUIRE(p253.size() == 253);
  CHECK(why(kube::validate_label_key(p253 + "/x")) == "ok");
  CHECK(why(kube::validate_label_key("b" + p253 + "/x"))
            .starts_with("prefix part: must be at most 253 characters, got 254"));
  // Each rule broken once.
  CHECK(why(kube::validate_label_key("")) == "name part: must be non-empty");
  CHECK(why(kube::validate_label_key("example.com/")) == "name part: must be non-empty");
  CHECK(why(kube::validate_label_key("/x")) == "prefix part: must be non-empty");
  CHECK(why(kube::validate_label_key("a/b/c")) ==
        "\"a/b/c\": a key has at most one '/' (prefix/name)");
  CHECK(why(kube::validate_label_key("-a")).starts_with("name part: \"-a\" must consist of"));
  CHECK(why(kube::validate_label_key("a-")).starts_with("name part: \"a-\" must consist of"));
  CHECK(why(kube::validate_label_key("_a")).starts_with("name part:"));
  CHECK(why(kube::validate_label_key(".a")).starts_with("name part:"));
  CHECK(why(kube::validate_label_key("a b")).starts_with("name part:"));
  CHECK(why(kube::validate_label_key("a*")).starts_with("name part:"));
  CHECK(why(kube::validate_label_key("é")).starts_with("name part:"));
  CHECK(why(kube::validate_label_key("Example.com/x"))
            .starts_with("prefix part: \"Example.com\" is not a DNS subdomain"));
  for (const char* bad :
       {"a_b.io/x", "-a.io/x", "a-.io/x", "a..io/x", ".a.io/x", "a.io./x", "a:b/x"}) {
    INFO(bad);
    CHECK(why(kube::validate_label_key(bad)).starts_with("prefix part: "));
  }
  // A long bad key is quoted in part.
  CHECK(why(kube::validate_label_key(std::string(100, 'x') + "!")).find("...\" (101 characters)") !=
        std::string::npos);
}

TEST_CASE("label values: empty, or 1..63 of [A-Za-z0-9-_.] alphanumeric at both ends",
          "[kube][labels]") {
  for (const char* ok : {"", "true", "false", "MyValue", "my_value", "12345", "1.2.3", "a-b"}) {
    INFO(ok);
    CHECK(why(kube::validate_label_value(ok)) == "ok");
  }
  CHECK(why(kube::validate_label_value(std::string(63, 'v'))) == "ok");
  CHECK(why(kube::validate_label_value(std::string(64, 'v'))) ==
        "value \"" + std::string(64, 'v') + "\" is longer than 63 characters (64)");
  for (const char* bad : {"-a", "a-", "_", ".", "a/b", "a b", "a=b", "x\n"}) {
    INFO(bad);
    CHECK(why(kube::validate_label_value(bad)).starts_with("value \""));
  }
}

TEST_CASE("feature labels: every feature and safe sysctl of the tables maps to a valid label",
          "[kube][labels]") {
  // A report in which every verdict is known: each name of the tables, as it is.
  features::FeatureReport r;
  for (auto name : features::feature_names()) {
    features::FeatureSupport f;
    f.name = std::string(name);
    f.version_supported = name.size() % 2 == 0;
    r.features.push_back(f);
  }
  for (const auto& s : features::safe_sysctls()) {
    features::SysctlSupport x;
    x.name = s.name;
    x.kernel_ok = true;
    x.present = s.name != "net.ipv4.tcp_rmem";
    r.sysctls.push_back(x);
  }
  const auto out = sinks::feature_labels(r);
  CHECK(out.skipped.empty());
  CHECK(out.labels.size() == features::feature_names().size() + features::safe_sysctls().size());
  for (const auto& [k, v] : out.labels) {
    INFO(k);
    CHECK(why(kube::validate_label_key(k)) == "ok");
    CHECK((v == "true" || v == "false"));
    CHECK(sinks::owned_label(k));
  }
  CHECK(out.labels.at("feature.nodehealth.io/cgroup_v2") == "false");  // 9 characters
  CHECK(out.labels.at("feature.nodehealth.io/psi") == "false");
  CHECK(out.labels.at("feature.nodehealth.io/nftables") == "true");
  CHECK(out.labels.at("feature.nodehealth.io/recursive_read_only_mounts") == "true");
  CHECK(out.labels.at("sysctl.nodehealth.io/net.ipv4.tcp_syncookies") == "true");
  CHECK(out.labels.at("sysctl.nodehealth.io/net.ipv4.tcp_rmem") == "false");
  CHECK(out.labels.at("sysctl.nodehealth.io/kernel.shm_rmid_forced") == "true");
}

TEST_CASE("feature labels on the el8 fixture: effective verdicts, unknown ones left out",
          "[kube][labels][fixtures]") {
  features::FeatureOptions opts;
  opts.live = features::FeatureOptions::Live::kOff;
  auto r = features::probe_features(
      HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/features/el8-4.18"), opts);
  REQUIRE(r);
  const auto out = sinks::feature_labels(*r);
  CHECK(out.skipped.empty());
  const Labels features_only = [&] {
    Labels l;
    for (const auto& [k, v] : out.labels)
      if (k.starts_with(sinks::kFeatureLabelPrefix)) l[k] = v;
    return l;
  }();
  // facts §5 rows on RHEL 8 (features_report_test.cpp): the probe's yes wins for the freezer
  // and PSI (backported), cgroup v2 has no version rule but a probe; every verdict is known.
  CHECK(features_only == Labels{{"feature.nodehealth.io/cgroup_freezer", "true"},
                                {"feature.nodehealth.io/cgroup_v2", "false"},
                                {"feature.nodehealth.io/ipvs_conn_reuse_mode", "true"},
                                {"feature.nodehealth.io/memory_qos", "false"},
                                {"feature.nodehealth.io/nftables", "false"},
                                {"feature.nodehealth.io/psi", "true"},
                                {"feature.nodehealth.io/recursive_read_only_mounts", "false"},
                                {"feature.nodehealth.io/root_cpu_stat", "false"},
                                {"feature.nodehealth.io/tmpfs_noswap", "false"},
                                {"feature.nodehealth.io/user_namespaces", "false"}});
  CHECK(out.labels.size() == features_only.size() + features::safe_sysctls().size());
  CHECK(out.labels.at("sysctl.nodehealth.io/net.ipv4.tcp_keepalive_time") == "true");

  // A verdict nobody knows (no version rule answered, no probe) is no label at all.
  features::FeatureReport unknown = *r;
  for (auto& f : unknown.features)
    if (f.name == "psi") f.version_supported = f.probe_supported = std::nullopt;
  CHECK_FALSE(sinks::feature_labels(unknown).labels.contains("feature.nodehealth.io/psi"));
}

TEST_CASE("feature labels: a name that is not a valid label is skipped and reported",
          "[kube][labels]") {
  features::FeatureReport r;
  features::SysctlSupport s;
  s.name = "net.ipv4.conf." + std::string(60, 'e') + ".rp_filter";  // 84 characters
  s.kernel_ok = true;
  r.sysctls.push_back(s);
  s.name = "net.ipv4.conf.eno2/100.rp_filter";  // a '/' (a VLAN interface)
  r.sysctls.push_back(s);
  const auto out = sinks::feature_labels(r);
  CHECK(out.labels.empty());
  REQUIRE(out.skipped.size() == 2);
  CHECK(out.skipped[0].find("is longer than 63 characters (84)") != std::string::npos);
  CHECK(out.skipped[1].find("at most one '/'") != std::string::npos);
}

TEST_CASE("label change: adopt, add, change, remove, and never other labels", "[kube][labels]") {
  const Labels want = {{"feature.nodehealth.io/psi", "true"},
                       {"feature.nodehealth.io/cgroup_v2", "false"},
                       {"sysctl.nodehealth.io/net.ipv4.tcp_rmem", "true"}};
  const Labels others = {{"kubernetes.io/hostname", "n1"},
                         {"node.kubernetes.io/instance-type", "m5.large"},
                         {"nodehealth.io/other", "x"},                 // not under the prefixes
                         {"feature.node.kubernetes.io/psi", "true"}};  // someone else's
  SECTION("adopt: the Node already has exactly the set: nothing to write") {
    Labels node = others;
    node.insert(want.begin(), want.end());
    CHECK(sinks::label_change(node, want).empty());
  }
  SECTION("add: a Node without any") {
    const auto c = sinks::label_change(others, want);
    CHECK(c.set == want);
    CHECK(c.remove.empty());
  }
  SECTION("change one value, remove labels the agent no longer produces") {
    Labels node = others;
    node.insert(want.begin(), want.end());
    node["feature.nodehealth.io/psi"] = "false";
    node["feature.nodehealth.io/retired"] = "true";
    node["sysctl.nodehealth.io/kernel.retired"] = "";
    const auto c = sinks::label_change(node, want);
    CHECK(c.set == Labels{{"feature.nodehealth.io/psi", "true"}});
    CHECK(c.remove == std::vector<std::string>{"feature.nodehealth.io/retired",
                                               "sysctl.nodehealth.io/kernel.retired"});
    const auto patch = nlohmann::json::parse(sinks::label_patch(c));
    CHECK(patch == nlohmann::json::parse(
                       R"({"metadata":{"labels":{"feature.nodehealth.io/psi":"true",
                           "feature.nodehealth.io/retired":null,
                           "sysctl.nodehealth.io/kernel.retired":null}}})"));
  }
  SECTION("nothing wanted any more: every owned label goes, the others stay") {
    Labels node = others;
    node.insert(want.begin(), want.end());
    const auto c = sinks::label_change(node, {});
    CHECK(c.set.empty());
    CHECK(c.remove.size() == want.size());
    for (const auto& k : c.remove) CHECK(want.contains(k));
  }
  SECTION("a wanted label outside the prefixes is never written") {
    const auto c = sinks::label_change({}, {{"kubernetes.io/hostname", "x"}});
    CHECK(c.empty());
  }
  CHECK(sinks::owned_labels(others).empty());
}
