// Source "psi": /proc/pressure/{cpu,memory,io}. A kernel without PSI (no
// /proc/pressure, or psi=0 making reads fail with EOPNOTSUPP) is "no data",
// not an error; a file that exists but does not parse is an error.
#include <sys/stat.h>

#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

class PsiSource final : public Source {
 public:
  explicit PsiSource(const HostPaths& paths) : dir_(paths.proc_file("pressure")) {}
  std::string_view name() const override { return "psi"; }
  Result<void> collect(Sample& sample) override {
    PsiSample psi;
    struct Slot {
      const char* file;
      std::optional<parse::Psi>* out;
    } slots[] = {{"cpu", &psi.cpu}, {"memory", &psi.memory}, {"io", &psi.io}};
    for (auto& slot : slots) {
      const std::string path = dir_ + "/" + slot.file;
      auto text = read_file(path);
      if (!text) {
        const int err = text.error().errno_value;
        if (err == ENOENT || err == EOPNOTSUPP || err == ENOTSUP) continue;  // no PSI here
        return std::unexpected(text.error());
      }
      auto parsed = parse::parse_psi(*text);
      if (!parsed) return std::unexpected(with_context(path, parsed.error()));
      *slot.out = *parsed;
    }
    sample.psi = psi;
    return {};
  }

 private:
  std::string dir_;
};

}  // namespace

std::unique_ptr<Source> make_psi_source(const HostPaths& paths) {
  return std::make_unique<PsiSource>(paths);
}

}  // namespace nodehealth::sources
