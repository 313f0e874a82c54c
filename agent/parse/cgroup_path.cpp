#include "agent/parse/cgroup_path.h"

#include <array>
#include <vector>

namespace nodehealth::parse {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view seg = path.substr(0, slash);
    if (!seg.empty()) out.push_back(seg);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_hex_id(std::string_view s) {
  if (s.size() < 12) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Pod UIDs are RFC 4122 UUIDs, or a 32-digit hash for static pods; be lenient but never let a
// path separator, a dot or a space through.
bool is_uid(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
          c == '_'))
      return false;
  return true;
}

std::string canonical_uid(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '_') c = '-';
  return out;
}

std::string runtime_name(std::string_view prefix) {
  if (prefix == "cri-containerd") return "containerd";
  if (prefix == "crio" || prefix == "crio-conmon") return "crio";
  return std::string(prefix);
}

// "kubepods-burstable-pod<uid>" (the segment without ".slice"), possibly under a cgroup root
// ("kubelet-kubepods-pod<uid>"). Sets qos and uid.
bool parse_systemd_pod(std::string_view base, std::string& qos, std::string& uid) {
  const auto pod = base.rfind("-pod");
  if (pod == std::string_view::npos) return false;
  const std::string_view left = base.substr(0, pod), right = base.substr(pod + 4);
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kQos{{
      {"kubepods-burstable", "burstable"},
      {"kubepods-besteffort", "besteffort"},
      {"kubepods", "guaranteed"},
  }};
  for (const auto& [prefix, name] : kQos) {
    const bool match = left == prefix || (left.size() > prefix.size() && left.ends_with(prefix) &&
                                          left[left.size() - prefix.size() - 1] == '-');
    if (!match) continue;
    if (!is_uid(right)) return false;
    qos = name;
    uid = canonical_uid(right);
    return true;
  }
  return false;
}

// The segment below the pod: "cri-containerd-<id>.scope", "crio-<id>.scope", "<id>",
// "crio-<id>", "crio-conmon-<id>.scope"... Fills the container fields, or returns false.
bool parse_container(std::string_view seg, KubeCgroup& out) {
  if (seg.ends_with(".scope")) seg.remove_suffix(6);
  if (is_hex_id(seg)) {
    out.container_id = seg;
    return true;
  }
  const auto dash = seg.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return false;
  const std::string_view prefix = seg.substr(0, dash), id = seg.substr(dash + 1);
  if (!is_hex_id(id)) return false;
  out.container_id = id;
  out.runtime = runtime_name(prefix);
  out.monitor = prefix == "crio-conmon";
  return true;
}

std::string join(const std::vector<std::string_view>& segs, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    out += '/';
    out += segs[i];
  }
  return out.empty() ? "/" : out;
}

}  // namespace

std::optional<KubeCgroup> parse_cgroup_path(std::string_view path) {
  const auto segs = split_path(path);
  for (std::size_t i = 0; i < segs.size(); ++i) {
    KubeCgroup kc;
    std::string_view seg = segs[i];
    // systemd driver: "<...>kubepods[-qos]-pod<uid>.slice", optionally followed by
    // ":<runtime>:<id>" (containerd's systemd cgroup form outside a systemd hierarchy).
    if (const auto dot = seg.find(".slice"); dot != std::string_view::npos) {
      const std::string_view rest = seg.substr(dot + 6);
      if (!rest.empty() && rest.front() != ':') continue;
      if (!parse_systemd_pod(seg.substr(0, dot), kc.qos, kc.pod_uid)) continue;
      kc.driver = "systemd";
      if (!rest.empty()) {
        // ":cri-containerd:<id>"
        const std::string_view spec = rest.substr(1);
        const auto colon = spec.find(':');
        if (colon == std::string_view::npos || !is_hex_id(spec.substr(colon + 1))) continue;
        kc.runtime = runtime_name(spec.substr(0, colon));
        kc.container_id = spec.substr(colon + 1);
        kc.container_cgroup = join(segs, i + 1);
        kc.nested = i + 1 < segs.size();
        return kc;
      }
    } else if (seg.starts_with("pod") && i > 0) {
      // cgroupfs driver: kubepods/pod<uid>, kubepods/burstable/pod<uid>, kubepods/besteffort/...
      const std::string_view parent = segs[i - 1];
      if (parent == "kubepods") {
        kc.qos = "guaranteed";
      } else if ((parent == "burstable" || parent == "besteffort") && i > 1 &&
                 segs[i - 2] == "kubepods") {
        kc.qos = parent;
      } else {
        continue;
      }
      if (!is_uid(seg.substr(3))) continue;
      kc.pod_uid = canonical_uid(seg.substr(3));
      kc.driver = "cgroupfs";
    } else {
      continue;
    }
    // The pod segment is i; a container segment may follow.
    if (i + 1 < segs.size() && parse_container(segs[i + 1], kc)) {
      kc.container_cgroup = join(segs, i + 2);
      kc.nested = i + 2 < segs.size();
    } else {
      kc.container_cgroup = join(segs, i + 1);
      kc.nested = i + 1 < segs.size();
    }
    return kc;
  }
  return std::nullopt;
}

}  // namespace nodehealth::parse
