// inotify watches on configuration files: edits, ConfigMap-style symlink swaps,
// drop-ins created in subdirectories, and files that appear later.
#include <catch2/catch.hpp>

#include "tests/unit/temp_dir.h"

#include <filesystem>
#include <fstream>

#include "agent/config/watch.h"

using nodehealth::config::FileWatch;
namespace fs = std::filesystem;

namespace {

using nodehealth::testing::TempDir;

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

TEST_CASE("file watch: an edit of the watched file is reported, an unrelated file is not",
          "[watch]") {
  TempDir d;
  write(fs::path(d.path()) / "config.yaml", "a: 1\n");
  auto w = FileWatch::create({(fs::path(d.path()) / "config.yaml").string()}, {});
  REQUIRE(w);
  CHECK_FALSE(w->drain());
  write(fs::path(d.path()) / "cpu_manager_state", "{}");
  CHECK_FALSE(w->drain());
  write(fs::path(d.path()) / "config.yaml", "a: 2\n");
  CHECK(w->drain());
  CHECK_FALSE(w->drain());  // drained
}

TEST_CASE("file watch: a ConfigMap-style ..data symlink swap is reported", "[watch]") {
  TempDir d;
  write(fs::path(d.path()) / "..2026_01" / "config.yaml", "a: 1\n");
  fs::create_directory_symlink("..2026_01", fs::path(d.path()) / "..data");
  fs::create_symlink("..data/config.yaml", fs::path(d.path()) / "config.yaml");
  auto w = FileWatch::create({(fs::path(d.path()) / "config.yaml").string()}, {});
  REQUIRE(w);
  write(fs::path(d.path()) / "..2026_02" / "config.yaml", "a: 2\n");
  fs::create_directory_symlink("..2026_02", fs::path(d.path()) / "..data_tmp");
  fs::rename(fs::path(d.path()) / "..data_tmp", fs::path(d.path()) / "..data");
  CHECK(w->drain());
}

TEST_CASE("file watch: drop-ins anywhere under the directory, including new subdirectories",
          "[watch]") {
  TempDir d;
  fs::create_directories(fs::path(d.path()) / "conf.d");
  auto w = FileWatch::create({}, {(fs::path(d.path()) / "conf.d").string()});
  REQUIRE(w);
  fs::create_directories(fs::path(d.path()) / "conf.d" / "sub");
  CHECK(w->drain());
  write(fs::path(d.path()) / "conf.d" / "sub" / "10.conf", "x: 1\n");
  CHECK(w->drain());
}

TEST_CASE("file watch: a directory that does not exist yet is noticed when created", "[watch]") {
  TempDir d;
  auto w = FileWatch::create({(fs::path(d.path()) / "kubelet" / "config.yaml").string()},
                             {(fs::path(d.path()) / "kubelet.conf.d").string()});
  REQUIRE(w);
  fs::create_directories(fs::path(d.path()) / "kubelet.conf.d");
  CHECK(w->drain());
  write(fs::path(d.path()) / "kubelet" / "config.yaml", "a: 1\n");
  CHECK(w->drain());
  write(fs::path(d.path()) / "kubelet" / "config.yaml", "a: 2\n");  // now watched directly
  CHECK(w->drain());
}
