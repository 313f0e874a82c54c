// Source "meminfo": /proc/meminfo (MemTotal is the memory.available capacity).
#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

class MeminfoSource final : public Source {
 public:
  explicit MeminfoSource(const HostPaths& paths) : path_(paths.proc_file("meminfo")) {}
  std::string_view name() const override { return "meminfo"; }
  Result<void> collect(Sample& sample) override {
    auto text = read_file(path_);
    if (!text) return std::unexpected(text.error());
    auto info = parse::parse_meminfo(*text);
    if (!info) return std::unexpected(with_context(path_, info.error()));
    sample.meminfo = *info;
    return {};
  }

 private:
  std::string path_;
};

}  // namespace

std::unique_ptr<Source> make_meminfo_source(const HostPaths& paths) {
  return std::make_unique<MeminfoSource>(paths);
}

}  // namespace nodehealth::sources
