// The gzip decoder behind /proc/config.gz: stored, fixed-Huffman and dynamic-Huffman blocks,
// header flags, and damaged input (reported, never a crash).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "agent/features/gunzip.h"
#include "agent/features/kconfig.h"

using namespace nodehealth::features;

namespace {

const std::string kText = "CONFIG_PSI=y\n# CONFIG_IP_VS is not set\n";

std::string bytes(std::initializer_list<unsigned> b) {
  std::string s;
  for (unsigned x : b) s.push_back(static_cast<char>(x));
  return s;
}

// gzip.compress(kText, compresslevel=0 / 9, mtime=0) from Python.
const std::string kStored = bytes(
    {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x03, 0x01, 0x27, 0x00, 0xd8, 0xff, 0x43,
     0x4f, 0x4e, 0x46, 0x49, 0x47, 0x5f, 0x50, 0x53, 0x49, 0x3d, 0x79, 0x0a, 0x23, 0x20, 0x43, 0x4f,
     0x4e, 0x46, 0x49, 0x47, 0x5f, 0x49, 0x50, 0x5f, 0x56, 0x53, 0x20, 0x69, 0x73, 0x20, 0x6e, 0x6f,
     0x74, 0x20, 0x73, 0x65, 0x74, 0x0a, 0x3c, 0xae, 0x53, 0xc2, 0x27, 0x00, 0x00, 0x00});
const std::string kFixed =
    bytes({0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x73, 0xf6, 0xf7, 0x73,
           0xf3, 0x74, 0x8f, 0x0f, 0x08, 0xf6, 0xb4, 0xad, 0xe4, 0x52, 0x56, 0x70, 0x86, 0x70,
           0x3d, 0x03, 0xe2, 0xc3, 0x82, 0x15, 0x32, 0x8b, 0x15, 0xf2, 0xf2, 0x4b, 0x14, 0x8a,
           0x53, 0x4b, 0xb8, 0x00, 0x3c, 0xae, 0x53, 0xc2, 0x27, 0x00, 0x00, 0x00});

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("gunzip: stored and fixed-Huffman blocks", "[features][gunzip]") {
  auto stored = gunzip(kStored);
  REQUIRE(stored);
  CHECK(*stored == kText);
  auto fixed = gunzip(kFixed);
  REQUIRE(fixed);
  CHECK(*fixed == kText);
}

TEST_CASE("gunzip: a file name in the header (FNAME) is skipped", "[features][gunzip]") {
  std::string named = kFixed;
  named[3] = 0x08;
  named.insert(10, std::string("config\0", 7));
  auto out = gunzip(named);
  REQUIRE(out);
  CHECK(*out == kText);
}

TEST_CASE("gunzip: dynamic Huffman on the real /proc/config.gz of the capture",
          "[features][gunzip]") {
  const std::string data =
      slurp(std::string(NODEHEALTH_FIXTURES) + "/features/real-6.18-hybrid/proc/config.gz");
  REQUIRE(data.size() > 1000);
  auto out = gunzip(data);
  REQUIRE(out);
  CHECK(out->size() == 100944);
  KernelConfig cfg = parse_kernel_config(*out);
  CHECK(cfg.get("CONFIG_PSI") == "y");
  CHECK(cfg.get("CONFIG_PSI_DEFAULT_DISABLED") == "y");
  CHECK(cfg.get("CONFIG_IP_VS") == "n");
  CHECK(cfg.get("CONFIG_NF_TABLES") == "y");
  CHECK(cfg.get("CONFIG_MODULES") == "n");
  CHECK_FALSE(cfg.get("CONFIG_NO_SUCH_OPTION"));
}

TEST_CASE("gunzip: damaged input is an error, never a crash", "[features][gunzip]") {
  CHECK_FALSE(gunzip(""));
  CHECK_FALSE(gunzip("CONFIG_PSI=y\nCONFIG_PSI=y\nCONFIG_PSI=y\n"));  // not gzip
  std::string crc = kFixed;
  crc[crc.size() - 8] ^= 1;
  CHECK(gunzip(crc).error().message.find("incorrect data check") != std::string::npos);
  std::string len = kFixed;
  len[len.size() - 4] ^= 1;
  CHECK(gunzip(len).error().message.find("incorrect length check") != std::string::npos);
  for (std::size_t cut = 0; cut < kFixed.size(); ++cut) CHECK_FALSE(gunzip(kFixed.substr(0, cut)));
  std::string bad_type = kFixed;
  bad_type[10] = 0x07;  // final block, type 3
  CHECK_FALSE(gunzip(bad_type));
  // Every single-byte corruption of the deflate data fails cleanly or decodes to something the
  // CRC rejects.
  for (std::size_t i = 10; i < kFixed.size() - 8; ++i) {
    std::string c = kFixed;
    c[i] ^= 0x5a;
    CHECK_FALSE(gunzip(c));
  }
  CHECK(gunzip(kStored, 10).error().message.find("larger than 10 bytes") != std::string::npos);
}

TEST_CASE("kernel config: parse y/m/strings/not set, ignore the rest", "[features][gunzip]") {
  auto cfg = parse_kernel_config(
      "#\n# comment\nCONFIG_A=y\nCONFIG_B=m\nCONFIG_C=\"x y\"\n# CONFIG_D is not set\ngarbage\n"
      "CONFIG_E");
  CHECK(cfg.get("CONFIG_A") == "y");
  CHECK(cfg.get("CONFIG_B") == "m");
  CHECK(cfg.get("CONFIG_C") == "x y");
  CHECK(cfg.get("CONFIG_D") == "n");
  CHECK_FALSE(cfg.get("CONFIG_E"));
}
