// Kubeconfig parsing and base64, without a cluster; libcurl loaded at run time.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "agent/kube/client.h"
#include "agent/kube/curl_lib.h"
#include "agent/sinks/kubernetes.h"
#include "temp_dir.h"

using namespace nodehealth;

namespace {
std::string write_file(const testing::TempDir& d, const std::string& name,
                       const std::string& text) {
  const std::string p = d.path() + "/" + name;
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST_CASE("base64 as kubeconfig *-data fields use it", "[kube]") {
  CHECK(*kube::base64_decode("aGVsbG8=") == "hello");
  CHECK(*kube::base64_decode("aGVs\nbG8gd29y\nbGQ=") == "hello world");
  CHECK(*kube::base64_decode("") == "");
  CHECK_FALSE(kube::base64_decode("aGVs*G8="));
  CHECK(kube::base64_decode("aG=Vs").error().message == "base64: data after padding");
}

TEST_CASE("Retry-After: delay-seconds, capped; anything else is ignored", "[kube]") {
  using std::chrono::seconds;
  CHECK(kube::parse_retry_after(" 30\r\n") == seconds(30));
  CHECK(kube::parse_retry_after("1") == seconds(1));
  CHECK(kube::parse_retry_after(" 7200 ") == kube::kMaxRetryAfter);
  CHECK(kube::parse_retry_after("99999999999999999") == kube::kMaxRetryAfter);  // no overflow
  CHECK_FALSE(kube::parse_retry_after("9999999999999999999999").has_value());
  CHECK_FALSE(kube::parse_retry_after("0").has_value());
  CHECK_FALSE(kube::parse_retry_after("-5").has_value());
  CHECK_FALSE(kube::parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT").has_value());
  CHECK_FALSE(kube::parse_retry_after("").has_value());
  CHECK_FALSE(kube::parse_retry_after("12abc").has_value());
}

TEST_CASE("kubeconfig: the current context's cluster and user", "[kube]") {
  testing::TempDir d;
  const std::string path = write_file(d, "kubeconfig", R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: other
  cluster: {server: https://other:6443}
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority: ca.crt
users:
- name: u1
  user:
    tokenFile: /var/run/token
    client-certificate-data: aGVsbG8=
contexts:
- name: prod
  context: {cluster: c1, user: u1}
)");
  auto c = kube::load_kubeconfig(path);
  REQUIRE(c);
  CHECK(c->server == "https://10.0.0.1:6443");
  CHECK(c->ca_file == d.path() + "/ca.crt");
  CHECK(c->token_file == "/var/run/token");
  CHECK(c->cert_pem == "hello");
  CHECK(c->origin == path);
}

TEST_CASE("kubeconfig errors name the file, the line and the key", "[kube]") {
  testing::TempDir d;
  auto err = [&](const std::string& text) {
    const std::string path = write_file(d, "k", text);
    auto c = kube::load_kubeconfig(path);
    REQUIRE_FALSE(c);
    return c.error().message.substr(("kubeconfig " + path).size());
  };
  CHECK(err("kind: Config\n") == ":1: current-context: not set");
  CHECK(err("current-context: x\ncontexts: []\n") == ":1: current-context: no context named \"x\"");
  CHECK(err("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n"
            "- name: c\n  cluster: {server: 'http://a:80'}\n") ==
        ":7: clusters[c].cluster.server: must be an https:// URL, got \"http://a:80\"");
  CHECK(err("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
            "clusters:\n- name: c\n  cluster: {server: 'https://a'}\nusers:\n- name: u\n"
            "  user:\n    exec: {command: aws}\n") ==
        ":11: users[u].user: exec and auth-provider credentials are not supported: use a token "
        "or a client certificate");
  CHECK(err("current-context: [\n").find("end of sequence") != std::string::npos);
  auto missing = kube::load_kubeconfig(d.path() + "/nope");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("No such file"));
}

TEST_CASE("the kubelet's condition types are written under the agent's own names", "[kube]") {
  CHECK(sinks::api_condition_type("MemoryPressure") == "MemoryEvictionThresholdMet");
  CHECK(sinks::api_condition_type("DiskPressure") == "DiskEvictionThresholdMet");
  CHECK(sinks::api_condition_type("PIDPressure") == "PIDEvictionThresholdMet");
  CHECK(sinks::api_condition_type("ForkStorm") == "ForkStorm");
  for (const char* t :
       {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"})
    CHECK(sinks::foreign_condition_type(t));
  CHECK_FALSE(sinks::foreign_condition_type("MemoryEvictionThresholdMet"));
}

TEST_CASE("a Node response: the agent's conditions, garbage refused", "[kube][fuzz]") {
  auto n = sinks::parse_node(
      R"({"metadata":{"uid":"u1"},"status":{"conditions":[
        {"type":"Ready","status":"True"},
        {"type":"RecentOOMKills","status":"True","reason":"R","lastTransitionTime":"2026-01-01T00:00:00Z"},
        {"type":"ForkStorm","status":"maybe","lastTransitionTime":"0087-04-18T18:20:18Z"},
        7]}})");
  REQUIRE(n);
  CHECK(n->uid == "u1");
  REQUIRE(n->conditions.size() == 2);
  CHECK(n->conditions[0].type == "RecentOOMKills");
  CHECK(n->conditions[0].status == ConditionStatus::kTrue);
  CHECK(format_rfc3339(n->conditions[0].last_transition) == "2026-01-01T00:00:00Z");
  CHECK(n->conditions[1].status == ConditionStatus::kUnknown);
  CHECK(n->conditions[1].last_transition == TimePoint{});
  CHECK_FALSE(sinks::parse_node("[1,2"));
  CHECK_FALSE(sinks::parse_node("{\"status\":{}}"));
}

TEST_CASE("a Node response: its labels, non-string values ignored", "[kube][labels]") {
  auto n = sinks::parse_node(
      R"({"metadata":{"uid":"u1","labels":{"kubernetes.io/hostname":"n1",
        "feature.nodehealth.io/psi":"true","sysctl.nodehealth.io/net.ipv4.tcp_rmem":"",
        "odd":7,"odder":null}}})");
  REQUIRE(n);
  CHECK(n->labels == sinks::Labels{{"kubernetes.io/hostname", "n1"},
                                   {"feature.nodehealth.io/psi", "true"},
                                   {"sysctl.nodehealth.io/net.ipv4.tcp_rmem", ""}});
  CHECK(sinks::owned_labels(n->labels).size() == 2);
  CHECK(sinks::parse_node(R"({"metadata":{"labels":[1]}})")->labels.empty());
}

TEST_CASE("in-cluster: the service host and port, the service account's token and CA", "[kube]") {
  testing::TempDir d;
  const char* saved_host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* saved_port = std::getenv("KUBERNETES_SERVICE_PORT");
  const std::string host = saved_host ? saved_host : "", port = saved_port ? saved_port : "";
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
  CHECK_FALSE(kube::in_cluster_config(d.path()).has_value());  // not in a pod: off

  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto missing = kube::in_cluster_config(d.path());
  REQUIRE(missing.has_value());
  REQUIRE_FALSE(*missing);  // in a pod without a token: an error naming the file
  CHECK_THAT(missing->error().message, Catch::Contains(d.path() + "/token"));

  write_file(d, "token", "eyJhbGciOi\n");
  write_file(d, "ca.crt", "-----BEGIN CERTIFICATE-----\n");
  auto c = kube::in_cluster_config(d.path());
  REQUIRE(c.has_value());
  REQUIRE(*c);
  CHECK((*c)->server == "https://10.96.0.1:443");
  CHECK((*c)->token_file == d.path() + "/token");  // re-read by the client, never cached here
  CHECK((*c)->token.empty());
  CHECK((*c)->ca_file == d.path() + "/ca.crt");
  CHECK((*c)->origin == "in-cluster");

  ::setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
  auto v6 = kube::in_cluster_config(d.path());
  REQUIRE(v6.has_value());
  REQUIRE(*v6);
  CHECK((*v6)->server == "https://[fd00:10:96::1]:443");

  if (saved_host)
    ::setenv("KUBERNETES_SERVICE_HOST", host.c_str(), 1);
  else
    ::unsetenv("KUBERNETES_SERVICE_HOST");
  if (saved_port)
    ::setenv("KUBERNETES_SERVICE_PORT", port.c_str(), 1);
  else
    ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_CASE("libcurl is loaded at run time and its calls reach the network", "[kube][curl]") {
  auto api = kube::curl_api();
  REQUIRE(api);
  CHECK(kube::curl_api().value() == *api);  // loaded once
  // The build links no libcurl: what is mapped now came from the loader.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  bool mapped = false;
  while (std::getline(maps, line)) mapped |= line.find("/libcurl.so.4") != std::string::npos;
  CHECK(mapped);
  // Port 1 on loopback refuses: a transport error naming the request, through the loaded
  // easy_init, setopt, perform and strerror.
  kube::ClusterConfig cfg;
  cfg.server = "https://127.0.0.1:1";
  cfg.token = "t";
  kube::Client client(cfg, std::chrono::seconds(5));
  auto r = client.request("GET", "/api/v1/nodes/n");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.starts_with("GET https://127.0.0.1:1/api/v1/nodes/n: "));
  CHECK(r.error().message.find("onnect") != std::string::npos);  // "Couldn't connect ..."
}
