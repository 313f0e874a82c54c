#include "agent/sources/files.h"

#include "agent/parse/proc.h"

#include <fcntl.h>
#include <unistd.h>

#include "nodehealth/unique_fd.h"

namespace nodehealth::sources {

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return errno_error("open " + path, errno);
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read " + path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes)
      return fail("read " + path + ": larger than " + std::to_string(max_bytes) + " bytes");
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Result<std::string> read_trimmed(const std::string& path) {
  auto text = read_file(path);
  if (!text) return text;
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ' || text->back() == '\t'))
    text->pop_back();
  return text;
}

Result<uint64_t> read_u64(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto v = parse::parse_u64_file(*text);
  if (!v) return std::unexpected(with_context(path, v.error()));
  return v;
}

Result<std::map<std::string, uint64_t, std::less<>>> read_keyed(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto keyed = parse::parse_flat_keyed(*text);
  if (!keyed) return std::unexpected(with_context(path, keyed.error()));
  return keyed;
}

Result<uint64_t> read_keyed_field(const std::string& path, std::string_view key) {
  auto keyed = read_keyed(path);
  if (!keyed) return std::unexpected(keyed.error());
  auto it = keyed->find(key);
  if (it == keyed->end()) return fail(path + ": no \"" + std::string(key) + "\" field");
  return it->second;
}

}  // namespace nodehealth::sources
