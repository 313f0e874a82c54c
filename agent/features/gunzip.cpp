#include "agent/features/gunzip.h"

#include <zlib.h>

#include <fmt/format.h>

namespace nodehealth::features {

Result<std::string> gunzip(std::string_view data, std::size_t max_output) {
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip header and trailer (CRC and size are checked).
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return fail("gunzip: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated input" : "error");
      inflateEnd(&zs);
      return fail(fmt::format("gunzip: {} (zlib {})", why, rc));
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (out.size() > max_output) {
      inflateEnd(&zs);
      return fail(fmt::format("gunzip: output larger than {} bytes", max_output));
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return fail("gunzip: truncated input");
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace nodehealth::features
