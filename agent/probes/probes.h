// The probe registry and the set of probes the agent runs: one explicit list, each
// probe enabled by config, started alone, degrading alone.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/probe.h"
#include "nodehealth/sample.h"

namespace nodehealth::probes {

// Every probe, in a stable order.
std::vector<std::string_view> probe_names();
std::unique_ptr<Probe> make_probe(std::string_view name);

// Factories (one per agent/probes/<name>.cpp).
std::unique_ptr<Probe> make_oom_probe();
std::unique_ptr<Probe> make_fork_probe();
std::unique_ptr<Probe> make_biolatency_probe();
std::unique_ptr<Probe> make_reclaim_probe();
std::unique_ptr<Probe> make_drops_probe();

// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted and we may;
// returns where tracefs is ("" when it is not and could not be mounted).
std::string ensure_tracefs(std::string& note);

class ProbeSet {
 public:
  // Starts each named probe; one that fails is kept as down with its reason.
  void start(const std::vector<std::string>& names, const ProbeOptions& opts);
  // Drains every probe's events and adds their data and states to the sample.
  void collect(Sample& sample);
  // Probe::wake_on_task_growth of every probe that is up.
  void wake_on_task_growth(uint64_t tasks);
  // Probes with an event fd, for the loop (fd, index into the set).
  std::vector<std::pair<int, Probe*>> event_fds() const;
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::string name;
    std::unique_ptr<Probe> probe;  // null when down
    std::string error;
  };
  std::vector<Entry> entries_;
};

}  // namespace nodehealth::probes
