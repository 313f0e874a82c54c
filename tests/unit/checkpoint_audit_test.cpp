// audit_checkpoint_dir on temporary trees (modes and owners cannot live in git): directory 0700,
// archives root-owned 0600 (facts §6), anything wider is a finding with its path.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/checkpoint/checkpoint.h"

using namespace nodehealth;
using namespace nodehealth::checkpoint;
namespace fs = std::filesystem;

namespace {

constexpr const char* kDir = "/var/lib/kubelet/checkpoints";

struct TempRoot {
  fs::path root;
  TempRoot() {
    char tmpl[] = "/tmp/nodehealth-audit-test-XXXXXX";
    root = ::mkdtemp(tmpl);
  }
  ~TempRoot() { fs::remove_all(root); }
  fs::path dir() const { return root / "var/lib/kubelet/checkpoints"; }
  void file(const std::string& name, std::size_t size, mode_t mode) const {
    std::ofstream(dir() / name) << std::string(size, 'p');
    REQUIRE(::chmod((dir() / name).c_str(), mode) == 0);
  }
};

std::vector<std::string> kinds_for(const CheckpointAudit& a, const std::string& path) {
  std::vector<std::string> out;
  for (const auto& f : a.findings)
    if (f.path == path) out.push_back(f.kind);
  return out;
}

}  // namespace

TEST_CASE("checkpoint audit: an absent directory is no finding", "[checkpoint][audit]") {
  TempRoot t;
  auto a = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
  REQUIRE(a);
  CHECK_FALSE(a->exists);
  CHECK(a->dir_mode_ok);
  CHECK(a->archives.empty());
  CHECK(a->findings.empty());
  CHECK(a->archive_bytes == 0);
}

TEST_CASE("checkpoint audit: a 0700 directory of 0600 archives is clean", "[checkpoint][audit]") {
  TempRoot t;
  fs::create_directories(t.dir());
  REQUIRE(::chmod(t.dir().c_str(), 0700) == 0);
  t.file("checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar", 3000, 0600);
  t.file("checkpoint-db-0_prod-pg-2026-11-25T11:00:00Z.tar", 1000, 0600);
  t.file("nodehealth-test-1-abc.tmp", 10, 0644);  // a --measure file: not audited
  auto a = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
  REQUIRE(a);
  CHECK(a->exists);
  CHECK(a->dir_mode == 0700);
  REQUIRE(a->archives.size() == 2);
  CHECK(a->archive_bytes == 4000);
  CHECK(a->archives[0].name == "checkpoint-db-0_prod-pg-2026-11-25T11:00:00Z.tar");
  CHECK(a->archives[0].path == std::string(kDir) + "/" + a->archives[0].name);
  REQUIRE(a->archives[1].parsed);
  CHECK(a->archives[1].parsed->pod == "web-0");
  CHECK(a->archives[1].parsed->ns == "default");
  CHECK(a->archives[1].parsed->container == "nginx");
  if (::geteuid() == 0) {
    CHECK(a->dir_mode_ok);
    CHECK(a->findings.empty());
    CHECK(a->exposed_archives == 0);
  } else {
    // Not root: the files are ours, and an archive not owned by root is a finding.
    CHECK(a->exposed_archives == 2);
  }
}

TEST_CASE("checkpoint audit: every exposure is a finding with its path", "[checkpoint][audit]") {
  TempRoot t;
  fs::create_directories(t.dir());
  REQUIRE(::chmod(t.dir().c_str(), 0755) == 0);
  const std::string d = kDir;
  t.file("checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar", 100, 0644);  // world-readable
  t.file("checkpoint-api-1_kube-system-metrics-server-2026-11-25T10:11:12Z.tar", 50, 0620);
  t.file("checkpoint-ok-0_default-app-2026-11-25T10:11:12Z.tar", 10, 0600);
  t.file("copy.tar.gz", 7, 0400);  // not the kubelet's name, but audited all the same
  fs::create_symlink("/etc/shadow", t.dir() / "evil.tar");
  fs::create_directories(t.dir() / "sub");
  // /var/log/pods tells which split of "kube-system-metrics-server" is real.
  fs::create_directories(t.root /
                         "var/log/pods/kube-system_api-1_0c6d2e8f-1a3b-4d5e-8f70-9a1b2c3d4e5f");

  auto a = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
  REQUIRE(a);
  CHECK_FALSE(a->dir_mode_ok);
  CHECK(a->dir_mode == 0755);
  CHECK(kinds_for(*a, d) == std::vector<std::string>{"dir-mode"});
  const std::string web = d + "/checkpoint-web-0_default-nginx-2026-11-25T10:11:12Z.tar";
  const std::string api =
      d + "/checkpoint-api-1_kube-system-metrics-server-2026-11-25T10:11:12Z.tar";
  const std::string ok = d + "/checkpoint-ok-0_default-app-2026-11-25T10:11:12Z.tar";
  const bool root = ::geteuid() == 0;
  auto with_owner = [&](std::vector<std::string> k) {
    if (!root) k.push_back("owner");
    return k;
  };
  CHECK(kinds_for(*a, web) == with_owner({"mode"}));
  CHECK(kinds_for(*a, api) == with_owner({"mode"}));  // group-writable
  CHECK(kinds_for(*a, ok) == with_owner({}));
  CHECK(kinds_for(*a, d + "/evil.tar") == std::vector<std::string>{"symlink"});
  CHECK(kinds_for(*a, d + "/sub") == std::vector<std::string>{"not-regular"});
  CHECK(a->archives.size() == 4);
  CHECK(a->archive_bytes == 167);
  CHECK(a->exposed_archives == (root ? 2u : 4u));
  for (const auto& f : a->findings)
    if (f.path == web) CHECK(f.message.find("readable by group and others") != std::string::npos);
  for (const auto& f : a->findings)
    if (f.path == api) CHECK(f.message.find("writable by group") != std::string::npos);
  for (const auto& f : a->findings)
    if (f.path == d)
      CHECK(f.message == "directory mode 0755, want 0700: listable by group and others");
  for (const auto& ar : a->archives)
    if (ar.path == api) {
      REQUIRE(ar.parsed);
      CHECK(ar.parsed->ns == "kube-system");
      CHECK(ar.parsed->container == "metrics-server");
    }

  SECTION("not root-owned") {
    if (!root) return;  // only root can give a file away
    REQUIRE(::chown((t.dir() / "checkpoint-ok-0_default-app-2026-11-25T10:11:12Z.tar").c_str(),
                    1000, 1000) == 0);
    REQUIRE(::chown(t.dir().c_str(), 1000, 0) == 0);
    auto b = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
    REQUIRE(b);
    CHECK(kinds_for(*b, ok) == std::vector<std::string>{"owner"});
    CHECK(kinds_for(*b, d) == (std::vector<std::string>{"dir-mode", "dir-owner"}));
    CHECK(b->exposed_archives == 3);
  }
}

TEST_CASE("checkpoint audit: a symlinked directory is followed and reported",
          "[checkpoint][audit]") {
  TempRoot t;
  fs::create_directories(t.root / "elsewhere");
  REQUIRE(::chmod((t.root / "elsewhere").c_str(), 0700) == 0);
  fs::create_directories(t.dir().parent_path());
  fs::create_directory_symlink(t.root / "elsewhere", t.dir());
  std::ofstream(t.root / "elsewhere" / "x.tar") << "x";
  REQUIRE(::chmod((t.root / "elsewhere" / "x.tar").c_str(), 0600) == 0);
  auto a = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
  REQUIRE(a);
  CHECK(a->exists);
  CHECK(a->archives.size() == 1);
  CHECK(kinds_for(*a, kDir) == std::vector<std::string>{"dir-symlink"});
}

TEST_CASE("checkpoint audit: a file where the directory should be is an error",
          "[checkpoint][audit]") {
  TempRoot t;
  fs::create_directories(t.dir().parent_path());
  std::ofstream(t.dir()) << "x";
  auto a = audit_checkpoint_dir(HostPaths::under(t.root.string()), kDir);
  REQUIRE_FALSE(a);
  CHECK(a.error().message.find("is not a directory") != std::string::npos);
}
