// The Node labels the Kubernetes sink publishes with kubernetes.featureLabels: the features
// report (agent/features) as labels under the agent's own prefixes, and the change that brings
// a Node's labels there. Pure, no I/O.
//
//   feature.nodehealth.io/<feature> = "true" | "false"   each kernel feature's effective
//                                                          verdict (FeatureSupport::supported);
//                                                          no label while it is unknown
//   sysctl.nodehealth.io/<sysctl>   = "true" | "false"   each pod safe sysctl
//                                                          (SysctlSupport::supported)
//
// <feature> is the name `nodehealth features` prints (nftables, cgroup_v2, ...) and <sysctl>
// the sysctl's dotted name (net.ipv4.tcp_syncookies), both as they are: letters, digits, '_'
// and '.' are all allowed in a label name. A name that is not a valid label name (longer than
// 63 characters, say) is left out and reported, never shortened into a name that means
// something else.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace nodehealth::features {
struct FeatureReport;
}

namespace nodehealth::sinks {

inline constexpr std::string_view kFeatureLabelPrefix = "feature.nodehealth.io/";
inline constexpr std::string_view kSysctlLabelPrefix = "sysctl.nodehealth.io/";

using Labels = std::map<std::string, std::string>;

// Whether a label key is under one of the agent's prefixes (the only labels it ever changes).
bool owned_label(std::string_view key);

struct FeatureLabels {
  Labels labels;
  std::vector<std::string> skipped;  // "<key>: <why>" for names that are not valid labels
};
FeatureLabels feature_labels(const features::FeatureReport& report);

// What takes a Node from `on_node` (its labels, all of them) to `want` (the agent's labels):
// set every wanted label that is missing or has another value, remove every label under the
// agent's prefixes that is not wanted; labels outside the prefixes are never in it.
struct LabelChange {
  Labels set;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && remove.empty(); }
};
LabelChange label_change(const Labels& on_node, const Labels& want);

// The merge patch of a change: {"metadata":{"labels":{"<set>":"v",...,"<remove>":null}}}.
std::string label_patch(const LabelChange& change);

// The owned labels of `labels`.
Labels owned_labels(const Labels& labels);

}  // namespace nodehealth::sinks
