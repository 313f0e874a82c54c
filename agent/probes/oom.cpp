// Loader of bpf/oom.bpf.c: OOM kills with the victim's cgroup, through a ring buffer.
#include <bpf/btf.h>

#include <algorithm>
#include <deque>

#include "agent/parse/cgroup_path.h"
#include "agent/probes/bpf_util.h"
#include "agent/probes/probes.h"
#include "bpf/oom.h"
#include "oom.skel.h"

namespace nodehealth::probes {
namespace {

constexpr std::size_t kMaxPendingKills = 1000;  // per tick; more are counted, not listed
constexpr std::size_t kMaxCgroups = 256;        // per-cgroup counters kept (most recent)

class OomProbe final : public Probe {
 public:
  std::string_view name() const override { return "oom"; }
  std::vector<std::string> tracepoints() const override { return {"oom/mark_victim"}; }

  Result<void> start(const ProbeOptions& o) override {
    // The victim's own task_struct where the kernel passes it (6.8+); else the
    // classic tracepoint and the cgroup of the task that triggered the kill.
    const bool victim_task = tp_btf_arg_is_pointer(o, "mark_victim", 0);
    auto skel = open_load_attach<nh_oom, nh_oom__destroy>(
        o, nh_oom__open_opts, nh_oom__load, nh_oom__attach, [&](nh_oom* s) -> Result<void> {
          bpf_program__set_autoload(s->progs.mark_victim_btf, victim_task);
          bpf_program__set_autoload(s->progs.mark_victim_tp, !victim_task);
          return {};
        });
    if (!skel) return std::unexpected(skel.error());
    skel_ = std::move(*skel);
    rb_ = ring_buffer__new(bpf_map__fd(skel_->maps.events), &OomProbe::on_event, this, nullptr);
    if (!rb_) return std::unexpected(bpf_error("ring buffer", errno));
    return {};
  }

  ~OomProbe() override {
    if (rb_) ring_buffer__free(rb_);
  }

  int event_fd() const override { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }
  void drain() override {
    if (rb_) ring_buffer__consume(rb_);
  }

  void collect(Sample& s) override {
    drain();
    s.oom_kills = std::move(pending_);
    pending_.clear();
    s.probes.oom_kills_total = total_;
    s.probes.oom_kills_by_cgroup.assign(by_cgroup_.begin(), by_cgroup_.end());
  }

  std::vector<std::pair<std::string, int>> programs() const override {
    return skel_ ? object_programs(skel_->obj) : std::vector<std::pair<std::string, int>>{};
  }
  uint64_t events_lost() const override {
    return (skel_ ? percpu_sum(bpf_map__fd(skel_->maps.lost), 0) : 0) + lost_user_;
  }

 private:
  static int on_event(void* ctx, void* data, size_t size) {
    auto* self = static_cast<OomProbe*>(ctx);
    if (size < sizeof(nh_oom_event)) return 0;
    self->record(*static_cast<const nh_oom_event*>(data));
    return 0;
  }

  void record(const nh_oom_event& e) {
    ++total_;
    OomKill k;
    k.at = WallClock::now();
    k.pid = e.pid;
    k.comm.assign(e.comm, strnlen(e.comm, sizeof e.comm));
    const uint32_t depth = std::min<uint32_t>(e.depth, NH_OOM_DEPTH);
    std::string path = e.truncated ? "/..." : "";
    for (uint32_t i = depth; i-- > 0;)
      path += "/" + std::string(e.names[i], strnlen(e.names[i], NH_OOM_NAME_LEN));
    k.cgroup = path.empty() ? "/" : path;
    if (auto kc = parse::parse_cgroup_path(k.cgroup)) {
      k.pod_uid = kc->pod_uid;
      k.container_id = kc->container_id;
    }
    // Per-cgroup counters: the most recently hit cgroup first, bounded.
    auto it = std::find_if(by_cgroup_.begin(), by_cgroup_.end(),
                           [&](const OomCount& c) { return c.cgroup == k.cgroup; });
    OomCount c = it != by_cgroup_.end() ? *it : OomCount{k.cgroup, k.pod_uid, k.container_id, 0};
    if (it != by_cgroup_.end()) by_cgroup_.erase(it);
    ++c.kills;
    by_cgroup_.push_front(std::move(c));
    if (by_cgroup_.size() > kMaxCgroups) by_cgroup_.pop_back();
    if (pending_.size() < kMaxPendingKills)
      pending_.push_back(std::move(k));
    else
      ++lost_user_;
  }

  SkelPtr<nh_oom, nh_oom__destroy> skel_;
  ring_buffer* rb_ = nullptr;
  std::vector<OomKill> pending_;
  std::deque<OomCount> by_cgroup_;
  uint64_t total_ = 0;
  uint64_t lost_user_ = 0;
};

}  // namespace

std::unique_ptr<Probe> make_oom_probe() { return std::make_unique<OomProbe>(); }

}  // namespace nodehealth::probes
