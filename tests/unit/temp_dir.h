// Test helper shared by the unit tests that need files: a fresh directory
// under /tmp, removed with everything in it at scope exit.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

namespace nodehealth::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/nodehealth-unit-test-XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

  // Writes `content` to `rel`, creating parent directories. Returns the full path.
  std::string write(const std::string& rel, const std::string& content) const {
    const std::string full = *this / rel;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream out(full, std::ios::binary);
    out << content;
    out.close();
    REQUIRE(out.good());
    return full;
  }
  std::string mkdir(const std::string& rel) const {
    const std::string full = *this / rel;
    std::filesystem::create_directories(full);
    return full;
  }
  void symlink(const std::string& target, const std::string& rel) const {
    REQUIRE(::symlink(target.c_str(), (*this / rel).c_str()) == 0);
  }

 private:
  std::string path_;
};

}  // namespace nodehealth::testing
