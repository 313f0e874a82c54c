// Pod UID and container ID from cgroup paths: every driver, QoS class and runtime shape
// (agent/parse/cgroup_path.h), and paths that must not parse.
#include <catch2/catch.hpp>

#include "agent/parse/cgroup_path.h"

using namespace nodehealth::parse;

namespace {

constexpr const char* kUid = "5f3e9a1c-7b2d-4c1e-9f0a-3b8d6e2c1a47";
constexpr const char* kId = "4d2a7c9e1b3f5a6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c";

struct Row {
  std::string path;
  std::string pod_uid, qos, driver, container_id, runtime, container_cgroup;
  bool nested = false, monitor = false;
};

}  // namespace

TEST_CASE("parse_cgroup_path: drivers, QoS classes and runtimes", "[parse][cgroup_path]") {
  const std::string uid = kUid, id = kId;
  const std::string sd_uid = "5f3e9a1c_7b2d_4c1e_9f0a_3b8d6e2c1a47";
  const std::string burst =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + sd_uid + ".slice";
  const std::string best =
      "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + sd_uid + ".slice";
  const std::string guar = "/kubepods.slice/kubepods-pod" + sd_uid + ".slice";
  const std::vector<Row> rows{
      // systemd driver
      {burst + "/cri-containerd-" + id + ".scope", uid, "burstable", "systemd", id, "containerd",
       burst + "/cri-containerd-" + id + ".scope"},
      {best + "/crio-" + id + ".scope", uid, "besteffort", "systemd", id, "crio",
       best + "/crio-" + id + ".scope"},
      {guar + "/docker-" + id + ".scope", uid, "guaranteed", "systemd", id, "docker",
       guar + "/docker-" + id + ".scope"},
      {burst + "/crio-conmon-" + id + ".scope", uid, "burstable", "systemd", id, "crio",
       burst + "/crio-conmon-" + id + ".scope", false, true},
      {burst + "/cri-containerd-" + id + ".scope/init.scope", uid, "burstable", "systemd", id,
       "containerd", burst + "/cri-containerd-" + id + ".scope", true},
      {burst, uid, "burstable", "systemd", "", "", burst},
      {burst + "/", uid, "burstable", "systemd", "", "", burst},
      // under a kubelet --cgroup-root
      {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
       "kubelet-kubepods-besteffort-pod" +
           sd_uid + ".slice/cri-containerd-" + id + ".scope",
       uid, "besteffort", "systemd", id, "containerd",
       "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
       "kubelet-kubepods-besteffort-pod" +
           sd_uid + ".slice/cri-containerd-" + id + ".scope"},
      // containerd's systemd form outside a systemd hierarchy (kind, name=systemd)
      {"/system.slice/containerd.service/kubepods-burstable-pod" + sd_uid +
           ".slice:cri-containerd:" + id,
       uid, "burstable", "systemd", id, "containerd",
       "/system.slice/containerd.service/kubepods-burstable-pod" + sd_uid +
           ".slice:cri-containerd:" + id},
      // cgroupfs driver
      {"/kubepods/burstable/pod" + uid + "/" + id, uid, "burstable", "cgroupfs", id, "",
       "/kubepods/burstable/pod" + uid + "/" + id},
      {"/kubepods/besteffort/pod" + uid + "/crio-" + id, uid, "besteffort", "cgroupfs", id, "crio",
       "/kubepods/besteffort/pod" + uid + "/crio-" + id},
      {"/kubepods/pod" + uid + "/" + id, uid, "guaranteed", "cgroupfs", id, "",
       "/kubepods/pod" + uid + "/" + id},
      {"kubepods/pod" + uid + "/" + id + "/", uid, "guaranteed", "cgroupfs", id, "",
       "/kubepods/pod" + uid + "/" + id},
      {"/kubepods/besteffort/pod" + uid + "/crio-conmon-" + id, uid, "besteffort", "cgroupfs", id,
       "crio", "/kubepods/besteffort/pod" + uid + "/crio-conmon-" + id, false, true},
      {"/kubepods/burstable/pod" + uid, uid, "burstable", "cgroupfs", "", "",
       "/kubepods/burstable/pod" + uid},
      {"/kubepods/burstable/pod" + uid + "/not-a-container", uid, "burstable", "cgroupfs", "", "",
       "/kubepods/burstable/pod" + uid, true},
      {"/kubelet/kubepods/burstable/pod" + uid + "/" + id, uid, "burstable", "cgroupfs", id, "",
       "/kubelet/kubepods/burstable/pod" + uid + "/" + id},
      // a static pod: its UID is the 32-digit hash of its manifest
      {"/kubepods.slice/kubepods-pod3b1f6e0d9c8a7b6e5d4c3b2a1f0e9d8c.slice/cri-containerd-" + id +
           ".scope",
       "3b1f6e0d9c8a7b6e5d4c3b2a1f0e9d8c", "guaranteed", "systemd", id, "containerd",
       "/kubepods.slice/kubepods-pod3b1f6e0d9c8a7b6e5d4c3b2a1f0e9d8c.slice/cri-containerd-" + id +
           ".scope"},
  };
  for (const auto& r : rows) {
    INFO(r.path);
    auto kc = parse_cgroup_path(r.path);
    REQUIRE(kc);
    CHECK(kc->pod_uid == r.pod_uid);
    CHECK(kc->qos == r.qos);
    CHECK(kc->driver == r.driver);
    CHECK(kc->container_id == r.container_id);
    CHECK(kc->runtime == r.runtime);
    CHECK(kc->container_cgroup == r.container_cgroup);
    CHECK(kc->nested == r.nested);
    CHECK(kc->monitor == r.monitor);
  }
}

TEST_CASE("parse_cgroup_path: paths outside pods", "[parse][cgroup_path]") {
  const std::string id = kId;
  for (const std::string& path : std::vector<std::string>{
           std::string(""), std::string("/"), std::string("/kubepods.slice"),
           std::string("/kubepods.slice/kubepods-burstable.slice"), std::string("/kubepods"),
           std::string("/kubepods/burstable"), std::string("/system.slice/containerd.service"),
           std::string("/system.slice/docker-" + id + ".scope"),  // docker without Kubernetes
           std::string("/user.slice/user-1000.slice/session-3.scope"),
           std::string("/process_api/683cfbd6ffe6fc403ddce956352c7bf4"),
           std::string("/burstable/pod1234/" + id),                      // no kubepods parent
           std::string("/other/pod1234/" + id),                          // "pod" dir elsewhere
           std::string("/kubepods.slice/kubepods-burstable-pod.slice"),  // empty UID
           std::string("/kubepods.slice/kubepods-burstable-podab.cd.slice"),
           std::string("/kubepods.slice/notkubepods-pod1234.slice"),
           std::string("/kubepods/pod/x"),  // empty UID
       }) {
    INFO(path);
    CHECK_FALSE(parse_cgroup_path(path));
  }
}

TEST_CASE("parse_cgroup_path: short or non-hex container ids are not containers",
          "[parse][cgroup_path]") {
  const std::string pod = "/kubepods/burstable/pod" + std::string(kUid);
  const std::vector<std::string> segs{
      "abc123", "cri-containerd-abc.scope", "crio-XYZ0123456789ab",
      "cri-containerd-" + std::string(kId).substr(0, 11) + ".scope"};
  for (const std::string& seg : segs) {
    INFO(seg);
    auto kc = parse_cgroup_path(pod + "/" + seg);
    REQUIRE(kc);
    CHECK(kc->container_id.empty());
    CHECK(kc->nested);
    CHECK(kc->container_cgroup == pod);
  }
}
