// Source "pids": the inputs of pid.available (facts §1):
// min(pid_max, threads-max) - tasks, tasks being the number after '/' in the
// 4th field of /proc/loadavg.
#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

class PidsSource final : public Source {
 public:
  explicit PidsSource(const HostPaths& paths)
      : loadavg_(paths.proc_file("loadavg")),
        pid_max_(paths.proc_file("sys/kernel/pid_max")),
        threads_max_(paths.proc_file("sys/kernel/threads-max")) {}
  std::string_view name() const override { return "pids"; }
  Result<void> collect(Sample& sample) override {
    auto text = read_file(loadavg_);
    if (!text) return std::unexpected(text.error());
    auto load = parse::parse_loadavg(*text);
    if (!load) return std::unexpected(with_context(loadavg_, load.error()));
    auto pid_max = read_u64(pid_max_);
    if (!pid_max) return std::unexpected(pid_max.error());
    auto threads_max = read_u64(threads_max_);
    if (!threads_max) return std::unexpected(threads_max.error());
    sample.loadavg = *load;
    sample.pids = PidLimits{*pid_max, *threads_max, load->tasks};
    return {};
  }

 private:
  std::string loadavg_, pid_max_, threads_max_;
};

}  // namespace

std::unique_ptr<Source> make_pids_source(const HostPaths& paths) {
  return std::make_unique<PidsSource>(paths);
}

}  // namespace nodehealth::sources
