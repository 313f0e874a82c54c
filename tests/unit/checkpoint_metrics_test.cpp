// checkpoint_metrics: the families, their labels and values, from a fixture report and an audit.
#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>

#include "agent/checkpoint/checkpoint.h"

using namespace nodehealth;
using namespace nodehealth::checkpoint;

namespace {

const prometheus::MetricFamily* family(const std::vector<prometheus::MetricFamily>& fams,
                                       const std::string& name) {
  for (const auto& f : fams)
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

TEST_CASE("checkpoint metrics from a report and an audit", "[checkpoint][metrics]") {
  CheckpointOptions opt;
  opt.top = 3;
  auto r = estimate_checkpoints(
      HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/checkpoint/k8s-systemd-v1"), opt);
  REQUIRE(r);
  CheckpointAudit a;
  a.exists = true;
  a.dir_mode = 0755;
  a.dir_mode_ok = false;
  a.archives.resize(3);
  a.archive_bytes = 12345;
  a.exposed_archives = 2;

  const auto fams = checkpoint_metrics(&*r, &a);
  const auto* pred = family(fams, "nodehealth_checkpoint_predicted_bytes");
  REQUIRE(pred);
  REQUIRE(pred->metric.size() == 3);  // bounded to the report's top N
  const auto& m = pred->metric[0];
  REQUIRE(m.label.size() == 3);
  CHECK(m.label[0].name == "pod_uid");
  CHECK(m.label[0].value == r->containers[0].kube->pod_uid);
  CHECK(m.label[1].name == "container_id");
  CHECK(m.label[1].value == r->containers[0].kube->container_id);
  CHECK(m.label[2].name == "cgroup");
  CHECK(m.label[2].value == r->containers[0].cgroup);
  CHECK(m.gauge.value == static_cast<double>(r->containers[0].predicted_bytes));
  CHECK(family(fams, "nodehealth_checkpoint_archives")->metric[0].gauge.value == 3);
  CHECK(family(fams, "nodehealth_checkpoint_archive_bytes")->metric[0].gauge.value == 12345);
  CHECK(family(fams, "nodehealth_checkpoint_exposed_archives")->metric[0].gauge.value == 2);
  CHECK(family(fams, "nodehealth_checkpoint_dir_mode_ok")->metric[0].gauge.value == 0);
  for (const auto& f : fams) CHECK(f.type == prometheus::MetricType::Gauge);

  const std::string text = prometheus::TextSerializer().Serialize(fams);
  CHECK(text.find("# TYPE nodehealth_checkpoint_archive_bytes gauge") != std::string::npos);
  CHECK(text.find("nodehealth_checkpoint_dir_mode_ok 0") != std::string::npos);
}

TEST_CASE("checkpoint metrics: absent inputs, absent directory", "[checkpoint][metrics]") {
  CHECK(checkpoint_metrics(nullptr, nullptr).empty());
  CheckpointAudit absent;  // the directory does not exist
  const auto fams = checkpoint_metrics(nullptr, &absent);
  CHECK_FALSE(family(fams, "nodehealth_checkpoint_dir_mode_ok"));
  REQUIRE(family(fams, "nodehealth_checkpoint_archives"));
  CHECK(family(fams, "nodehealth_checkpoint_archives")->metric[0].gauge.value == 0);
  CheckpointReport empty;  // nothing to estimate: no empty family
  CHECK_FALSE(family(checkpoint_metrics(&empty, nullptr), "nodehealth_checkpoint_predicted_bytes"));
  // A cgroup outside Kubernetes has empty pod_uid and container_id labels.
  CheckpointReport plain;
  plain.containers.push_back({});
  plain.containers[0].cgroup = "/system.slice/nginx.service";
  plain.containers[0].predicted_bytes = 42;
  const auto p = checkpoint_metrics(&plain, nullptr);
  REQUIRE(p.size() == 1);
  CHECK(p[0].metric[0].label[0].value == "");
  CHECK(p[0].metric[0].label[2].value == "/system.slice/nginx.service");
}
