#include "agent/probes/probes.h"

#include <malloc.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "agent/probes/bpf_util.h"

namespace nodehealth::probes {

namespace {
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC
constexpr long kDebugfsMagic = 0x64626720;  // DEBUGFS_MAGIC

bool is_tracefs(const char* path) {
  struct statfs st {};
  return ::statfs(path, &st) == 0 && st.f_type == kTracefsMagic;
}
}  // namespace

std::vector<std::string_view> probe_names() {
  return {"oom", "fork", "biolatency", "reclaim", "drops"};
}

std::unique_ptr<Probe> make_probe(std::string_view name) {
  if (name == "oom") return make_oom_probe();
  if (name == "fork") return make_fork_probe();
  if (name == "biolatency") return make_biolatency_probe();
  if (name == "reclaim") return make_reclaim_probe();
  if (name == "drops") return make_drops_probe();
  return nullptr;
}

std::string ensure_tracefs(std::string& note) {
  if (is_tracefs("/sys/kernel/tracing")) return "/sys/kernel/tracing";
  struct statfs st {};
  if (::statfs("/sys/kernel/debug", &st) == 0 && st.f_type == kDebugfsMagic &&
      is_tracefs("/sys/kernel/debug/tracing"))
    return "/sys/kernel/debug/tracing";
  if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) == 0) {
    note = "mounted tracefs at /sys/kernel/tracing";
    return "/sys/kernel/tracing";
  }
  note = std::string("tracefs is not mounted and mounting it failed: ") + std::strerror(errno);
  return "";
}

void ProbeSet::start(const std::vector<std::string>& names, const ProbeOptions& opts) {
  for (const auto& n : names) {
    Entry e{n, make_probe(n), ""};
    if (!e.probe) {
      e.error = "unknown probe";
    } else if (auto ok = check_requirements(opts, e.probe->tracepoints()); !ok) {
      e.error = ok.error().message;
    } else if (auto r = e.probe->start(opts); !r) {
      e.error = r.error().message;
    }
    if (!e.error.empty()) {
      e.probe.reset();  // destroys the skeleton: nothing stays in the kernel
      spdlog::warn("probe down: {} name={}", e.error, n);
    } else {
      spdlog::info("probe up: name={} programs={}", n, e.probe->programs().size());
    }
    entries_.push_back(std::move(e));
  }
  // Loading parsed the kernel's BTF several times (each check here, and libbpf once per
  // object): megabytes freed in the middle of the heap, which glibc keeps unless asked.
  // Give them back, so the steady state does not carry the start's peak.
  ::malloc_trim(0);
}

void ProbeSet::collect(Sample& s) {
  for (auto& e : entries_) {
    ProbeState st;
    st.name = e.name;
    st.up = e.probe != nullptr;
    st.error = e.error;
    if (e.probe) {
      e.probe->collect(s);
      st.events_lost = e.probe->events_lost();
      st.programs = program_stats(e.probe->programs());
    }
    s.probes.probes.push_back(std::move(st));
  }
}

void ProbeSet::wake_on_task_growth(uint64_t tasks) {
  for (auto& e : entries_)
    if (e.probe) e.probe->wake_on_task_growth(tasks);
}

std::vector<std::pair<int, Probe*>> ProbeSet::event_fds() const {
  std::vector<std::pair<int, Probe*>> out;
  for (const auto& e : entries_)
    if (e.probe && e.probe->event_fd() >= 0) out.emplace_back(e.probe->event_fd(), e.probe.get());
  return out;
}

}  // namespace nodehealth::probes
