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
  // The dump time and the fit: one series per row, the same labels in the same order.
  const auto* secs = family(fams, "nodehealth_checkpoint_predicted_seconds");
  const auto* fits = family(fams, "nodehealth_checkpoint_fits");
  REQUIRE(secs);
  REQUIRE(fits);
  REQUIRE(r->available_bytes);
  REQUIRE(secs->metric.size() == 3);
  REQUIRE(fits->metric.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    const ContainerEstimate& c = r->containers[i];
    INFO(c.cgroup);
    for (const auto* f : {secs, fits}) {
      REQUIRE(f->metric[i].label.size() == 3);
      for (std::size_t l = 0; l < 3; ++l) {
        CHECK(f->metric[i].label[l].name == pred->metric[i].label[l].name);
        CHECK(f->metric[i].label[l].value == pred->metric[i].label[l].value);
      }
    }
    // facts §6: bytes x 7 / 1 GB/s, computed here.
    CHECK(secs->metric[i].gauge.value ==
          Approx(static_cast<double>(c.predicted_bytes) * 7 / 1e9).epsilon(1e-12));
    CHECK(fits->metric[i].gauge.value == (c.predicted_bytes <= *r->available_bytes ? 1 : 0));
  }
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
  CHECK(checkpoint_metrics(&empty, nullptr).empty());
  // A cgroup outside Kubernetes has empty pod_uid and container_id labels.
  CheckpointReport plain;
  plain.containers.push_back({});
  plain.containers[0].cgroup = "/system.slice/nginx.service";
  plain.containers[0].predicted_bytes = 42;
  const auto p = checkpoint_metrics(&plain, nullptr);
  // Bytes and seconds; no fits without a free space.
  REQUIRE(p.size() == 2);
  for (const auto& f : p) {
    CHECK(f.metric[0].label[0].value == "");
    CHECK(f.metric[0].label[2].value == "/system.slice/nginx.service");
  }
  CHECK_FALSE(family(p, "nodehealth_checkpoint_fits"));
}

TEST_CASE(
    "checkpoint metrics: fits is 0 for a container the directory cannot hold, absent "
    "while the free space is unknown",
    "[checkpoint][metrics]") {
  CheckpointReport r;
  r.available_bytes = 4 << 20;  // e.g. a 4 MiB filesystem
  r.containers.resize(2);
  r.containers[0].cgroup = "/big";
  r.containers[0].predicted_bytes = 60 << 20;
  r.containers[0].predicted_seconds = 0.44;
  r.containers[0].fits = false;
  r.containers[1].cgroup = "/small";
  r.containers[1].predicted_bytes = 700 << 10;
  r.containers[1].predicted_seconds = 0.005;
  r.containers[1].fits = true;
  const auto fams = checkpoint_metrics(&r, nullptr);
  const auto* fits = family(fams, "nodehealth_checkpoint_fits");
  REQUIRE(fits);
  REQUIRE(fits->metric.size() == 2);
  CHECK(fits->metric[0].label[2].value == "/big");
  CHECK(fits->metric[0].gauge.value == 0);
  CHECK(fits->metric[1].gauge.value == 1);
  const auto* secs = family(fams, "nodehealth_checkpoint_predicted_seconds");
  REQUIRE(secs);
  CHECK(secs->metric[0].gauge.value == 0.44);
  CHECK(secs->metric[1].gauge.value == 0.005);
  const std::string text = prometheus::TextSerializer().Serialize(fams);
  CHECK(text.find("nodehealth_checkpoint_fits{pod_uid=\"\",container_id=\"\",cgroup=\"/big\"} 0") !=
        std::string::npos);

  r.available_bytes.reset();  // statvfs failed: nothing to say about the fit
  const auto unknown = checkpoint_metrics(&r, nullptr);
  CHECK_FALSE(family(unknown, "nodehealth_checkpoint_fits"));
  CHECK(family(unknown, "nodehealth_checkpoint_predicted_seconds"));
}

TEST_CASE("checkpoint metrics: every per-container family is bounded by the report's top N",
          "[checkpoint][metrics]") {
  const auto paths =
      HostPaths::under(std::string(NODEHEALTH_FIXTURES) + "/checkpoint/k8s-systemd-v1");
  for (std::size_t top : {1, 2, 5}) {
    CheckpointOptions opt;
    opt.top = top;
    auto r = estimate_checkpoints(paths, opt);
    REQUIRE(r);
    REQUIRE(r->estimated == 5);
    const auto fams = checkpoint_metrics(&*r, nullptr);
    for (const char* name :
         {"nodehealth_checkpoint_predicted_bytes", "nodehealth_checkpoint_predicted_seconds",
          "nodehealth_checkpoint_fits"}) {
      INFO(name << " top " << top);
      REQUIRE(family(fams, name));
      CHECK(family(fams, name)->metric.size() == top);
    }
  }
}
