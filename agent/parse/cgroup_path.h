// Pod UID and container ID from a Kubernetes cgroup path. Pure parser, no I/O.
//
// The kubelet names pod cgroups after the pod's QoS class and UID; the runtime names the
// container's cgroup after the container ID. The shapes this understands:
//
//   systemd driver (v1 and v2), dashes of the UID written as '_':
//     /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
//     /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/crio-<id>.scope
//     /kubepods.slice/kubepods-pod<uid>.slice/docker-<id>.scope                     (guaranteed)
//     /kubepods.slice/.../kubepods-burstable-pod<uid>.slice/crio-conmon-<id>.scope  (CRI-O's
//     monitor)
//   containerd's systemd form seen in name=systemd and kind nodes:
//     /system.slice/containerd.service/kubepods-burstable-pod<uid>.slice:cri-containerd:<id>
//   cgroupfs driver:
//     /kubepods/burstable/pod<uid>/<id>    /kubepods/besteffort/pod<uid>/crio-<id>
//     /kubepods/pod<uid>/<id>              (guaranteed)
//   any of these under a --cgroup-root (/kubelet.slice/kubelet-kubepods.slice/...,
//   /kubelet/kubepods/...).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nodehealth::parse {

struct KubeCgroup {
  std::string pod_uid;       // as the API shows it: '_' of the systemd form turned back into '-'
  std::string qos;           // "guaranteed", "burstable" or "besteffort"
  std::string driver;        // "systemd" or "cgroupfs"
  std::string container_id;  // empty for the pod's own cgroup
  std::string runtime;       // "containerd", "crio", "docker", another scope prefix, or ""
  // The path up to and including the container segment (the pod segment when there is no
  // container): processes of nested cgroups below it belong to that container.
  std::string container_cgroup;
  bool nested = false;   // the path goes on below the container (or pod) segment
  bool monitor = false;  // crio-conmon-<id>: CRI-O's per-container monitor, not the container
};

// nullopt when the path is not inside a Kubernetes pod cgroup. Leading, trailing and repeated
// '/' are ignored; the returned container_cgroup always starts with '/'.
std::optional<KubeCgroup> parse_cgroup_path(std::string_view path);

}  // namespace nodehealth::parse
