#include "agent/checkpoint/json.h"

#include "nodehealth/condition.h"

namespace nodehealth::checkpoint {

using nlohmann::json;

json to_json(const ContainerEstimate& e) {
  json j;
  j["cgroup"] = e.cgroup;
  if (e.kube) {
    j["podUID"] = e.kube->pod_uid;
    j["containerID"] = e.kube->container_id;
    j["qosClass"] = e.kube->qos;
    j["runtime"] = e.kube->runtime;
    j["cgroupDriver"] = e.kube->driver;
  }
  if (e.names) {
    j["pod"] = e.names->pod;
    j["namespace"] = e.names->ns;
    j["container"] = e.names->container;
  }
  j["processes"] = e.processes;
  j["vanishedProcesses"] = e.vanished;
  j["source"] = e.source;
  j["estimate"] = e.estimate;
  j["anonymousBytes"] = e.anonymous_bytes;
  j["fileCowBytes"] = e.file_cow_bytes ? json(*e.file_cow_bytes) : json(nullptr);
  j["shmemBytes"] = e.shmem_bytes;
  j["swapBytes"] = e.swap_bytes;
  j["memoryBytes"] = e.memory_bytes();
  j["rootfsDiffBytes"] = e.rootfs_diff_bytes ? json(*e.rootfs_diff_bytes) : json(nullptr);
  if (!e.upperdir.empty()) j["upperdir"] = e.upperdir;
  if (e.rootfs_truncated) j["rootfsTruncated"] = true;
  j["logBytes"] = e.log_bytes;
  j["metadataBytes"] = e.metadata_bytes;
  j["predictedBytes"] = e.predicted_bytes;
  j["predictedSeconds"] = e.predicted_seconds;
  j["predictedSecondsRange"] = {e.predicted_seconds_low, e.predicted_seconds_high};
  j["fits"] = e.fits;
  j["problems"] = e.problems;
  return j;
}

json to_json(const CheckpointReport& r) {
  json j;
  j["hierarchy"] = r.hierarchy;
  j["kubernetes"] = r.kubernetes;
  j["estimated"] = r.estimated;
  j["shown"] = r.containers.size();
  json rows = json::array();
  for (const auto& c : r.containers) rows.push_back(to_json(c));
  j["containers"] = std::move(rows);
  j["totalPredictedBytes"] = r.total_predicted_bytes;
  j["totalPredictedSeconds"] = r.total_predicted_seconds;
  j["checkpointDir"] = r.checkpoint_dir;
  j["spacePath"] = r.space_path;
  j["availableBytes"] = r.available_bytes ? json(*r.available_bytes) : json(nullptr);
  j["allFit"] = r.all_fit;
  json t;
  t["bytesPerSecond"] = r.throughput.bytes_per_second;
  t["source"] = r.throughput.source;
  t["runtimeSlowdown"] = r.throughput.runtime_slowdown;
  t["runtimeSlowdownRange"] = {kRuntimeSlowdownLow, kRuntimeSlowdownHigh};
  if (r.throughput.measured_bytes_per_second) {
    t["measuredBytesPerSecond"] = *r.throughput.measured_bytes_per_second;
    t["measuredBytes"] = r.throughput.measured_bytes;
    t["measuredSeconds"] = r.throughput.measured_seconds;
    t["measuredPath"] = r.throughput.measured_path;
  }
  j["throughput"] = std::move(t);
  j["problems"] = r.problems;
  return j;
}

json to_json(const CheckpointAudit& a) {
  json j;
  j["dir"] = a.dir;
  j["exists"] = a.exists;
  if (a.exists) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", a.dir_mode);
    j["dirMode"] = mode;
    j["dirUID"] = a.dir_uid;
  }
  j["dirModeOK"] = a.dir_mode_ok;
  j["archiveCount"] = a.archives.size();
  j["archiveBytes"] = a.archive_bytes;
  j["exposedArchives"] = a.exposed_archives;
  json files = json::array();
  for (const auto& f : a.archives) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", f.mode);
    json fj{{"path", f.path}, {"bytes", f.bytes}, {"mode", mode},
            {"uid", f.uid},   {"gid", f.gid},     {"modified", format_rfc3339(f.modified)}};
    if (f.parsed) {
      fj["pod"] = f.parsed->pod;
      if (!f.parsed->ambiguous()) {
        fj["namespace"] = f.parsed->ns;
        fj["container"] = f.parsed->container;
      } else {
        fj["namespaceAndContainer"] = f.parsed->namespace_and_container;
      }
      fj["checkpointTime"] =
          f.parsed->time ? json(format_rfc3339(*f.parsed->time)) : json(f.parsed->time_text);
    }
    files.push_back(std::move(fj));
  }
  j["archives"] = std::move(files);
  json findings = json::array();
  for (const auto& f : a.findings)
    findings.push_back({{"path", f.path}, {"kind", f.kind}, {"message", f.message}});
  j["findings"] = std::move(findings);
  j["problems"] = a.problems;
  return j;
}

}  // namespace nodehealth::checkpoint
