// Test helper: runs a subcommand's entry point in-process with its stdout and
// stderr captured in temporary files.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace nodehealth::testing {

struct Run {
  int code = 0;
  std::string out, err;
};

inline std::string slurp(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) s.append(buf, n);
  return s;
}

// `nodehealth <command> <args...>` through `entry(argc, argv, out, err)`.
template <typename Entry>
Run run_command(Entry entry, const std::string& command, std::vector<std::string> args) {
  args.insert(args.begin(), {"nodehealth", command});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> out(std::tmpfile(), &std::fclose);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> err(std::tmpfile(), &std::fclose);
  REQUIRE(out);
  REQUIRE(err);
  Run r;
  r.code = entry(static_cast<int>(argv.size()), argv.data(), out.get(), err.get());
  r.out = slurp(out.get());
  r.err = slurp(err.get());
  return r;
}

}  // namespace nodehealth::testing
