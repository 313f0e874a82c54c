// Loader of bpf/fork.bpf.c: task creations and exits per memory cgroup, read from
// the kernel's hash map at each tick; and the wake-ups that sample at once when forks
// eat into the PID signal's headroom.
#include <algorithm>
#include <map>

#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "agent/probes/top_cgroups.h"
#include "bpf/fork.h"
#include "fork.skel.h"

namespace nodehealth::probes {
namespace {

constexpr std::size_t kTopCgroups = 20;            // joining the export per tick: the busiest
constexpr auto kSticky = std::chrono::minutes(5);  // a cgroup stays exported this long
constexpr std::size_t kMaxExported = 50;           // and never more than this many at once
constexpr int kForgetAfter = 3;  // collects a removed cgroup stays in the kernel map

class ForkProbe final : public Probe {
 public:
  std::string_view name() const override { return "fork"; }
  std::vector<std::string> tracepoints() const override {
    return {"sched/sched_process_fork", "sched/sched_process_exit"};
  }

  Result<void> start(const ProbeOptions& o) override {
    // BTF raw tracepoints where the kernel describes them (cheaper: no trace record and
    // direct field reads); else the classic tracepoints.
    const bool btf = tp_btf_arg_is_pointer(o, "sched_process_fork", 0) &&
                     tp_btf_arg_is_pointer(o, "sched_process_exit", 0);
    auto skel = open_load_attach<nh_fork, nh_fork__destroy>(
        o, nh_fork__open_opts, nh_fork__load, nh_fork__attach, [&](nh_fork* s) -> Result<void> {
          bpf_program__set_autoload(s->progs.process_fork_btf, btf);
          bpf_program__set_autoload(s->progs.process_exit_btf, btf);
          bpf_program__set_autoload(s->progs.process_fork, !btf);
          bpf_program__set_autoload(s->progs.process_exit, !btf);
          return {};
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    // One page per CPU: a wake-up is 8 bytes and at most one per CPU waits between samples.
    pb_ = perf_buffer__new(
        bpf_map__fd(skel_->maps.wake), 1, [](void*, int, void*, __u32) {}, nullptr, nullptr,
        nullptr);
    if (!pb_) return errno_error("fork: perf buffer of wake-ups", errno);
    wake_on_task_growth(0);  // no mark until the first sample sets one
    resolver_ = std::make_unique<CgroupResolver>(o.memcg_hierarchy);
    return {};
  }

  ~ForkProbe() override {
    if (pb_) perf_buffer__free(pb_);  // before the skeleton's maps go
  }

  int event_fd() const override { return pb_ ? perf_buffer__epoll_fd(pb_) : -1; }
  void drain() override {
    if (pb_) perf_buffer__consume(pb_);
  }

  // Marks per CPU: `tasks` more tasks mean at least `tasks` more forks, so at least one CPU
  // gains tasks / ncpu of them and reaches its mark (exits only make that come early).
  void wake_on_task_growth(uint64_t tasks) override {
    const int fd = bpf_map__fd(skel_->maps.totals);
    const int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0) return;
    std::vector<uint64_t> forks(static_cast<std::size_t>(ncpu)), marks(forks.size(), ~0ULL);
    uint32_t key = NH_FORK_TOTAL_FORKS;
    if (tasks > 0 && bpf_map_lookup_elem(fd, &key, forks.data()) == 0) {
      const uint64_t step = std::max<uint64_t>(1, tasks / static_cast<uint64_t>(ncpu));
      for (std::size_t i = 0; i < forks.size(); ++i) marks[i] = forks[i] + step;
    }
    // Unchanged (no threshold, or no fork since): the kernel has them. A CPU that reached its
    // mark had it set to all ones by the program, but has forked past it, so its new mark
    // differs and the write happens.
    if (marks == marks_) return;
    key = NH_FORK_WAKE_AT;
    if (bpf_map_update_elem(fd, &key, marks.data(), BPF_ANY) == 0) marks_ = std::move(marks);
  }

  void collect(Sample& s) override {
    const int totals = bpf_map__fd(skel_->maps.totals);
    s.probes.forks_total = percpu_sum(totals, NH_FORK_TOTAL_FORKS);
    s.probes.exits_total = percpu_sum(totals, NH_FORK_TOTAL_EXITS);

    const auto now = std::chrono::steady_clock::now();
    const int counts = bpf_map__fd(skel_->maps.counts);
    std::vector<std::pair<uint64_t, uint64_t>> recent;  // (forks since last collect, id)
    std::map<uint64_t, nh_fork_counts> current;
    for (uint64_t id : map_keys<uint64_t>(counts, NH_FORK_MAX_CGROUPS)) {
      nh_fork_counts c{};
      if (bpf_map_lookup_elem(counts, &id, &c) != 0) continue;
      current[id] = c;
      const uint64_t before = last_.contains(id) ? last_[id].forks : 0;
      recent.emplace_back(c.forks >= before ? c.forks - before : c.forks, id);
    }
    exported_.observe(std::move(recent), now);

    s.probes.tasks_by_cgroup.clear();
    for (uint64_t id : exported_.ids()) {
      auto it = current.find(id);
      if (it == current.end()) continue;
      std::string path = resolver_->path(id);
      if (path.empty()) {
        // A removed cgroup: forget it in the kernel after a few ticks (its forks stay in
        // the node totals), so the bounded map keeps room for new cgroups.
        if (++unresolved_[id] >= kForgetAfter) {
          bpf_map_delete_elem(counts, &id);
          unresolved_.erase(id);
          exported_.forget(id);
        }
        continue;
      }
      unresolved_.erase(id);
      s.probes.tasks_by_cgroup.push_back({std::move(path), it->second.forks, it->second.exits});
    }
    std::sort(s.probes.tasks_by_cgroup.begin(), s.probes.tasks_by_cgroup.end(),
              [](const TaskCounts& a, const TaskCounts& b) { return a.cgroup < b.cgroup; });
    // Removed cgroups that are not exported are forgotten too.
    if (current.size() > NH_FORK_MAX_CGROUPS * 3 / 4) {
      for (const auto& [id, c] : current)
        if (!exported_.contains(id) && resolver_->path(id).empty())
          bpf_map_delete_elem(counts, &id);
    }
    last_ = std::move(current);
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return object_programs(skel_->obj);
  }
  uint64_t events_lost() const override { return percpu_sum(bpf_map__fd(skel_->maps.lost), 0); }

 private:
  std::vector<uint64_t> marks_;  // the marks last written to the kernel
  SkelPtr<nh_fork, nh_fork__destroy> skel_;
  perf_buffer* pb_ = nullptr;
  std::unique_ptr<CgroupResolver> resolver_;
  std::map<uint64_t, nh_fork_counts> last_;
  TopCgroups exported_{kTopCgroups, kSticky, kMaxExported};
  std::map<uint64_t, int> unresolved_;
};

}  // namespace

std::unique_ptr<Probe> make_fork_probe() { return std::make_unique<ForkProbe>(); }

}  // namespace nodehealth::probes
