// `nodehealth checkpoint-cost`: flags, exit codes, the table and the JSON, on fixture trees.
#include <catch2/catch.hpp>

#include "tests/unit/run_command.h"

#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "agent/commands/checkpoint_cost.h"

using namespace nodehealth;
namespace fs = std::filesystem;

namespace {

using nodehealth::testing::Run;

// `nodehealth checkpoint-cost <args...>`: exit code, stdout, stderr.
Run run(std::vector<std::string> args) {
  return nodehealth::testing::run_command(
      [](int argc, char** argv, std::FILE* out, std::FILE* err) {
        return nodehealth::commands::checkpoint_cost(argc, argv, out, err);
      },
      "checkpoint-cost", std::move(args));
}

std::string fixture(const std::string& name) {
  return std::string(NODEHEALTH_FIXTURES) + "/checkpoint/" + name;
}

}  // namespace

TEST_CASE("checkpoint-cost: --help and bad usage", "[checkpoint][command]") {
  auto help = run({"--help"});
  CHECK(help.code == 0);
  CHECK(help.out.starts_with("Usage: nodehealth checkpoint-cost"));
  CHECK(help.out.find("--measure") != std::string::npos);
  CHECK(help.err.empty());
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--bogus"},
           {"-o", "yaml"},
           {"--top", "x"},
           {"--top", "-1"},
           {"--top"},
           {"--measure=yes"},
           {"--checkpoint-dir", "relative/dir"},
           {"stray"},
       }) {
    INFO(bad[0]);
    auto r = run(bad);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("nodehealth: "));
  }
}

TEST_CASE("checkpoint-cost: table on the Kubernetes fixture", "[checkpoint][command]") {
  auto r = run({"--host-root", fixture("k8s-systemd-v1")});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  INFO(r.out);
  CHECK(
      r.out.find("cgroup v1 memory controller at /sys/fs/cgroup/memory (Kubernetes containers)") !=
      std::string::npos);
  CHECK(r.out.find("POD UID") != std::string::npos);
  CHECK(r.out.find("shop/web-7d9f8b6c5-x2x4q/app") != std::string::npos);
  CHECK(r.out.find("4d2a7c9e1b3f5") != std::string::npos);
  CHECK(r.out.find("2 (-1)") != std::string::npos);  // worker: one process exited mid-walk
  CHECK(r.out.find("~") != std::string::npos);       // db: memory.stat estimate
  CHECK(r.out.find("Time model:  size x 7") != std::string::npos);
  CHECK(r.out.find("Checkpoint directory: /var/lib/kubelet/checkpoints") != std::string::npos);
  CHECK(r.out.find("does not exist") != std::string::npos);
}

TEST_CASE("checkpoint-cost: JSON carries the estimate and the audit", "[checkpoint][command]") {
  char tmpl[] = "/tmp/nodehealth-cmd-test-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  auto r = run({"-o", "json", "--host-root", fixture("plain-host"), "--top", "1",
                "--checkpoint-dir", (dir / "absent").string()});
  CHECK(r.code == 0);
  auto j = nlohmann::json::parse(r.out);
  const auto& e = j["estimate"];
  CHECK(e["kubernetes"] == false);
  CHECK(e["estimated"] == 2);
  CHECK(e["shown"] == 1);
  REQUIRE(e["containers"].size() == 1);
  const auto& c = e["containers"][0];
  CHECK(c["cgroup"] == "/user.slice/user-1000.slice/session-3.scope");
  CHECK(c["processes"] == 2);
  CHECK(c["anonymousBytes"] == (268 + 47868) * 1024);
  CHECK(c["shmemBytes"] == 8192 * 1024);
  CHECK(c["rootfsDiffBytes"].is_null());
  CHECK(c["predictedBytes"].get<uint64_t>() ==
        c["memoryBytes"].get<uint64_t>() + c["metadataBytes"].get<uint64_t>());
  CHECK(e["throughput"]["source"] == "assumed");
  CHECK(e["throughput"]["bytesPerSecond"] == 1e9);
  // --checkpoint-dir is a host path: under --host-root it does not exist, nor do its parents.
  CHECK(e["spacePath"] == "/");
  CHECK(j["audit"]["exists"] == false);
  CHECK(j["audit"]["findings"].empty());
  fs::remove_all(dir);
}

TEST_CASE("checkpoint-cost: no memory hierarchy exits 1, the audit still runs",
          "[checkpoint][command]") {
  auto r = run({"-o", "json", "--host-root", fixture("no-memory-controller")});
  CHECK(r.code == 1);
  CHECK(r.err.find("no memory controller") != std::string::npos);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["estimate"].is_null());
  CHECK(j["estimateError"].get<std::string>().find("no memory controller") != std::string::npos);
  CHECK(j["audit"]["exists"] == false);
}

TEST_CASE("checkpoint-cost: human units", "[checkpoint][command]") {
  CHECK(commands::human_bytes(0) == "0 B");
  CHECK(commands::human_bytes(1023) == "1023 B");
  CHECK(commands::human_bytes(1024) == "1.0 KiB");
  CHECK(commands::human_bytes(64ull << 20) == "64.0 MiB");
  CHECK(commands::human_bytes(3ull << 30) == "3.0 GiB");
  CHECK(commands::human_seconds(0.04) == "0.0s");
  CHECK(commands::human_seconds(12.34) == "12.3s");
  CHECK(commands::human_seconds(125) == "2m05s");
  CHECK(commands::human_seconds(7300) == "2h01m");
}
