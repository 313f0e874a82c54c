#include "agent/sinks/node_labels.h"

#include <nlohmann/json.hpp>

#include "agent/features/features.h"
#include "agent/kube/labels.h"

namespace nodehealth::sinks {

bool owned_label(std::string_view key) {
  return key.starts_with(kFeatureLabelPrefix) || key.starts_with(kSysctlLabelPrefix);
}

namespace {

void add(FeatureLabels& out, std::string_view prefix, std::string_view name, bool value) {
  std::string key = std::string(prefix) + std::string(name);
  if (auto ok = kube::validate_label_key(key); !ok) {
    out.skipped.push_back(key + ": " + ok.error().message);
    return;
  }
  out.labels[std::move(key)] = value ? "true" : "false";
}

}  // namespace

FeatureLabels feature_labels(const features::FeatureReport& report) {
  FeatureLabels out;
  for (const auto& f : report.features)
    if (auto v = f.supported()) add(out, kFeatureLabelPrefix, f.name, *v);
  for (const auto& s : report.sysctls) add(out, kSysctlLabelPrefix, s.name, s.supported());
  return out;
}

LabelChange label_change(const Labels& on_node, const Labels& want) {
  LabelChange c;
  for (const auto& [k, v] : want) {
    if (!owned_label(k)) continue;  // never the labels of others
    auto it = on_node.find(k);
    if (it == on_node.end() || it->second != v) c.set[k] = v;
  }
  for (const auto& [k, v] : on_node)
    if (owned_label(k) && !want.contains(k)) c.remove.push_back(k);
  return c;
}

std::string label_patch(const LabelChange& change) {
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [k, v] : change.set) labels[k] = v;
  for (const auto& k : change.remove) labels[k] = nullptr;
  return nlohmann::json{{"metadata", {{"labels", labels}}}}.dump();
}

Labels owned_labels(const Labels& labels) {
  Labels out;
  for (const auto& [k, v] : labels)
    if (owned_label(k)) out.emplace(k, v);
  return out;
}

}  // namespace nodehealth::sinks
