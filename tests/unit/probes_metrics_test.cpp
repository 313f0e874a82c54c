// The probes' Prometheus families from a constructed ProbeSample.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>

#include "agent/probes/probe_metrics.h"

using namespace nodehealth;

namespace {
std::string render(const ProbeSample& p) {
  return prometheus::TextSerializer().Serialize(probes::probe_metrics(p));
}
}  // namespace

TEST_CASE("no probes, no probe families", "[probes]") { CHECK(render(ProbeSample{}).empty()); }

TEST_CASE("probe state, lost events and program cost", "[probes]") {
  ProbeSample p;
  p.probes.push_back(ProbeState{"oom", true, "", 3, {{"mark_victim_btf", 2500, 5}}});
  p.probes.push_back(ProbeState{"fork", false, "tracepoint sched/x does not exist", 0, {}});
  const std::string text = render(p);
  CHECK_THAT(text, Catch::Contains("nodehealth_probe_up{probe=\"oom\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_probe_up{probe=\"fork\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_probe_events_lost_total{probe=\"oom\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_probe_program_run_seconds_total{probe=\"oom\","
                                   "program=\"mark_victim_btf\"} 2.5e-06\n"));
  CHECK_THAT(
      text,
      Catch::Contains(
          "nodehealth_probe_program_runs_total{probe=\"oom\",program=\"mark_victim_btf\"} 5\n"));
  CHECK_THAT(text, !Catch::Contains("probe=\"fork\",program"));
}

TEST_CASE("log2 histograms become cumulative Prometheus buckets in seconds", "[probes]") {
  ProbeSample p;
  p.probes.push_back(ProbeState{"biolatency", true, "", 0, {}});
  Log2Histogram h;
  h.slots.assign(40, 0);
  h.slots[5] = 2;   // 32-64 ns: below the first bucket (4.096 us)
  h.slots[12] = 3;  // 4096-8192 ns
  h.slots[39] = 1;  // beyond the last bucket
  h.sum_ns = 1500000000;
  p.block_latency["vda"] = h;
  const std::string text = render(p);
  CHECK_THAT(
      text, Catch::Contains(
                "nodehealth_block_io_latency_seconds_bucket{device=\"vda\",le=\"4.096e-06\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_block_io_latency_seconds_bucket{device=\"vda\","
                                   "le=\"8.192000000000001e-06\"} 5\n"));
  CHECK_THAT(text,
             Catch::Contains(
                 "nodehealth_block_io_latency_seconds_bucket{device=\"vda\",le=\"+Inf\"} 6\n"));
  CHECK_THAT(text,
             Catch::Contains("nodehealth_block_io_latency_seconds_count{device=\"vda\"} 6\n"));
  CHECK_THAT(text,
             Catch::Contains("nodehealth_block_io_latency_seconds_sum{device=\"vda\"} 1.5\n"));
}

TEST_CASE("OOM kills per cgroup carry the pod UID and container ID", "[probes]") {
  ProbeSample p;
  p.probes.push_back(ProbeState{"oom", true, "", 0, {}});
  p.oom_kills_total = 2;
  p.oom_kills_by_cgroup.push_back({"/kubepods/pod1/abc", "1", "abc", 2});
  const std::string text = render(p);
  CHECK_THAT(text, Catch::Contains("nodehealth_oom_kills_total 2\n"));
  CHECK_THAT(text,
             Catch::Contains("nodehealth_oom_kills_cgroup_total{cgroup=\"/kubepods/pod1/abc\","
                             "pod_uid=\"1\",container_id=\"abc\"} 2\n"));
}

TEST_CASE("reclaim stalls: node-wide direct and memory-cgroup, each its own families", "[probes]") {
  ProbeSample p;
  p.probes.push_back(ProbeState{"reclaim", true, "", 0, {}});
  Log2Histogram direct, memcg;
  direct.slots.assign(40, 0);
  memcg.slots.assign(40, 0);
  memcg.slots[20] = 4;  // 1.05-2.1 ms
  memcg.sum_ns = 6000000;
  p.direct_reclaim = direct;
  p.memcg_reclaim = memcg;
  const std::string text = render(p);
  CHECK_THAT(text, Catch::Contains("nodehealth_direct_reclaim_stalls_total 0\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_memcg_reclaim_stalls_total 4\n"));
  CHECK_THAT(text, Catch::Contains(
                       "nodehealth_memcg_reclaim_stall_seconds_bucket{le=\"0.001048576\"} 0\n"));
  CHECK_THAT(text, Catch::Contains(
                       "nodehealth_memcg_reclaim_stall_seconds_bucket{le=\"0.002097152\"} 4\n"));
  CHECK_THAT(text, Catch::Contains("nodehealth_memcg_reclaim_stall_seconds_sum 0.006\n"));

  // A kernel without the memcg tracepoints: no memcg families at all.
  p.memcg_reclaim.reset();
  CHECK_THAT(render(p), !Catch::Contains("nodehealth_memcg_reclaim"));
}
