// `nodehealth checkpoint-cost` (see checkpoint_cost.h).
#include "agent/commands/checkpoint_cost.h"

#include <charconv>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/checkpoint/json.h"
#include "agent/commands/args.h"
#include "agent/json_text.h"
#include "nodehealth/condition.h"

namespace nodehealth::commands {

namespace ck = nodehealth::checkpoint;

namespace {

constexpr const char* kUsage =
    R"(Usage: nodehealth checkpoint-cost [flags]

Predicts, for every container on the node (every cgroup with processes of its
own on a host without Kubernetes), the size of a checkpoint archive
(kubelet POST /checkpoint) and how long the container would be frozen while it
is written, and audits the checkpoint directory.

Size = for every process of the container's cgroup, from /proc/<pid>/smaps_rollup:
Anonymous (private anonymous pages, including copy-on-written pages of private
file mappings) + Pss_Shmem (shared memory, each shared page once) + Swap; plus
the overlay upperdir as a tar (rootfs-diff.tar), the container log, and 512 KiB
+ 64 KiB per process of metadata. Clean page cache is not dumped and not
counted. Rows marked "~" are estimates from the cgroup's memory.stat (smaps
unreadable). Time = size x 7 / 1 GB/s (bare CRIU ~1 GB/s, a runtime 6-8x
slower); with --measure the disk's write throughput replaces 1 GB/s when lower.

The audit wants the directory root-owned with mode 0700 and every archive
root-owned with mode 0600: anything readable by others is a finding (an archive
holds every memory page of its container).

Flags:
  --checkpoint-dir DIR   the kubelet's checkpoint directory as the host sees it
                         (default /var/lib/kubelet/checkpoints, under --host-root)
  --measure              measure the write throughput of the checkpoint directory's
                         filesystem: write + fsync a 64 MiB nodehealth-test-* file
                         there (or in its nearest existing parent), then remove it
  --top N                rows shown, largest first (default 50; 0 = all)
  --cgroup PATH          only cgroups at or below PATH in the memory hierarchy
  --host-root DIR        the host's / (e.g. /host in a container; default /)
  --proc-root DIR        the host's /proc (default <host-root>/proc)
  --sys-root DIR         the host's /sys (default <host-root>/sys)
  -o, --output FORMAT    table (default) or json
  -h, --help             this text

Exit status: 0; 1 when there is no memory cgroup hierarchy or the checkpoint
directory cannot be read; 2 on bad usage.
)";

constexpr std::string_view kWithValue[] = {"checkpoint-dir", "top",      "cgroup", "host-root",
                                           "proc-root",      "sys-root", "output"};
constexpr std::string_view kSwitches[] = {"measure"};

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

// Columns separated by two spaces; numeric columns (`right`) aligned right.
std::string render(const std::vector<std::vector<std::string>>& rows,
                   const std::vector<bool>& right, int indent) {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line(static_cast<std::size_t>(indent), ' ');
    for (std::size_t i = 0; i < r.size(); ++i) {
      const bool last = i + 1 == r.size();
      if (i < right.size() && right[i])
        line += std::string(w[i] - r[i].size(), ' ') + r[i];
      else
        line += last ? r[i] : pad(r[i], w[i]);
      if (!last) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string rate(double bytes_per_second) {
  if (bytes_per_second >= 1e9) return fmt::format("{:.2f} GB/s", bytes_per_second / 1e9);
  return fmt::format("{:.0f} MB/s", bytes_per_second / 1e6);
}

std::string estimate_section(const ck::CheckpointReport& r) {
  std::string out;
  out += fmt::format("Hierarchy:   {}{}\n", r.hierarchy,
                     r.kubernetes ? " (Kubernetes containers)"
                                  : " (no Kubernetes containers: every cgroup with processes)");
  std::vector<std::vector<std::string>> rows;
  if (r.kubernetes)
    rows.push_back({"POD UID", "CONTAINER", "NAME", "PROCS", "ANON", "SHMEM", "COW FILE", "SWAP",
                    "ROOTFS DIFF", "LOG+META", "PREDICTED", "TIME", "FITS"});
  else
    rows.push_back({"CGROUP", "PROCS", "ANON", "SHMEM", "COW FILE", "SWAP", "ROOTFS DIFF",
                    "LOG+META", "PREDICTED", "TIME", "FITS"});
  bool any_estimate = false;
  for (const auto& c : r.containers) {
    any_estimate |= c.estimate;
    const uint64_t cow = c.file_cow_bytes.value_or(0);
    std::vector<std::string> row;
    if (r.kubernetes) {
      row.push_back(c.kube->pod_uid);
      row.push_back(c.kube->container_id.substr(0, 13));
      row.push_back(c.names ? c.names->ns + "/" + c.names->pod + "/" + c.names->container : "-");
    } else {
      row.push_back(c.cgroup);
    }
    std::string procs = std::to_string(c.processes);
    if (c.vanished) procs += fmt::format(" (-{})", c.vanished);
    row.push_back(procs);
    row.push_back(human_bytes(c.anonymous_bytes - std::min(cow, c.anonymous_bytes)));
    row.push_back(human_bytes(c.shmem_bytes));
    row.push_back(c.file_cow_bytes ? human_bytes(cow) : "-");
    row.push_back(human_bytes(c.swap_bytes));
    row.push_back(c.rootfs_diff_bytes
                      ? human_bytes(*c.rootfs_diff_bytes) + (c.rootfs_truncated ? "+" : "")
                      : "-");
    row.push_back(human_bytes(c.log_bytes + c.metadata_bytes));
    row.push_back((c.estimate ? "~" : "") + human_bytes(c.predicted_bytes));
    row.push_back(human_seconds(c.predicted_seconds));
    row.push_back(!r.available_bytes ? "?" : c.fits ? "yes" : "no");
    rows.push_back(std::move(row));
  }
  const std::size_t first_num = r.kubernetes ? 3 : 1;
  std::vector<bool> right(rows[0].size(), false);
  for (std::size_t i = first_num; i + 1 < right.size(); ++i) right[i] = true;
  if (r.containers.empty())
    out += "  no cgroup with processes to checkpoint\n";
  else
    out += render(rows, right, 2);
  if (any_estimate) out += "  ~ estimate from the cgroup's memory.stat (smaps_rollup unreadable)\n";
  if (r.estimated > r.containers.size())
    out += fmt::format("  ... {} more not shown (--top)\n", r.estimated - r.containers.size());
  out += fmt::format("Total:       {} in {} cgroup{}, {} to dump one after another\n",
                     human_bytes(r.total_predicted_bytes), r.estimated, r.estimated == 1 ? "" : "s",
                     human_seconds(r.total_predicted_seconds));
  const auto& t = r.throughput;
  out += fmt::format("Time model:  size x {:.0f} (runtime overhead, 6-8x) / {} ({}{})\n",
                     t.runtime_slowdown, rate(t.bytes_per_second),
                     t.source == "measured" ? "measured write throughput" : "bare CRIU, assumed",
                     t.source == "measured" && t.measured_bytes_per_second &&
                             *t.measured_bytes_per_second > t.bytes_per_second
                         ? ", capped at CRIU's 1 GB/s"
                         : "");
  if (t.measured_bytes_per_second)
    out += fmt::format("Measured:    {} written and fsynced in {} in {:.2f}s: {}\n",
                       human_bytes(t.measured_bytes), t.measured_path, t.measured_seconds,
                       rate(*t.measured_bytes_per_second));
  if (r.available_bytes) {
    out += fmt::format(
        "Space:       {} free on the filesystem of {}{}: {}\n", human_bytes(*r.available_bytes),
        r.space_path,
        r.space_path != r.checkpoint_dir ? " (" + r.checkpoint_dir + " does not exist yet)" : "",
        r.all_fit ? "all fit" : "NOT all fit");
  }
  // Unreadable or vanished entries: reported, never fatal.
  std::vector<std::string> notes = r.problems;
  for (const auto& c : r.containers)
    for (const auto& p : c.problems)
      notes.push_back((c.kube ? "container " + c.kube->container_id.substr(0, 13) : c.cgroup) +
                      ": " + p);
  if (!notes.empty()) {
    out += "Problems:\n";
    for (const auto& n : notes) out += "  " + n + "\n";
  }
  return out;
}

std::string audit_section(const ck::CheckpointAudit& a) {
  std::string out = fmt::format("Checkpoint directory: {}\n", a.dir);
  if (!a.exists) {
    out += "  does not exist (no checkpoint taken yet)\n";
  } else {
    out += fmt::format("  mode {:04o}, owner uid {}: {}\n", a.dir_mode, a.dir_uid,
                       a.dir_mode_ok ? "ok" : "WRONG (want root, 0700)");
    out += fmt::format("  {} archive{}, {} (nothing deletes them)\n", a.archives.size(),
                       a.archives.size() == 1 ? "" : "s", human_bytes(a.archive_bytes));
    if (!a.archives.empty()) {
      std::vector<std::vector<std::string>> rows{
          {"ARCHIVE", "SIZE", "MODE", "UID", "NAMESPACE", "POD", "CONTAINER", "TAKEN"}};
      for (const auto& f : a.archives) {
        std::string ns = "-", pod = "-", container = "-", taken = "-";
        if (f.parsed) {
          pod = f.parsed->pod;
          if (f.parsed->ambiguous()) {
            ns = f.parsed->namespace_and_container + " (ambiguous)";
            container = "?";
          } else {
            ns = f.parsed->ns;
            container = f.parsed->container;
          }
          taken = f.parsed->time ? format_rfc3339(*f.parsed->time) : f.parsed->time_text;
        }
        rows.push_back({f.name, human_bytes(f.bytes), fmt::format("{:04o}", f.mode),
                        std::to_string(f.uid), ns, pod, container, taken});
      }
      out += render(rows, {false, true}, 2);
    }
  }
  if (a.findings.empty()) {
    out += "  findings: none\n";
  } else {
    out += fmt::format("  findings: {} ({} exposed archive{})\n", a.findings.size(),
                       a.exposed_archives, a.exposed_archives == 1 ? "" : "s");
    for (const auto& f : a.findings) out += "    " + f.path + ": " + f.message + "\n";
  }
  for (const auto& p : a.problems) out += "  problem: " + p + "\n";
  return out;
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) v /= 1024, ++u;
  return fmt::format("{:.1f} {}", v, kUnits[u]);
}

std::string human_seconds(double s) {
  if (s < 60) return fmt::format("{:.1f}s", s);
  const auto total = static_cast<uint64_t>(s + 0.5);
  if (total < 3600) return fmt::format("{}m{:02}s", total / 60, total % 60);
  return fmt::format("{}h{:02}m", total / 3600, total % 3600 / 60);
}

std::string checkpoint_table(const ck::CheckpointReport* report, const ck::CheckpointAudit* audit) {
  std::string out;
  if (report) out += estimate_section(*report);
  if (report && audit) out += "\n";
  if (audit) out += audit_section(*audit);
  return out;
}

int checkpoint_cost(int argc, char** argv, std::FILE* out, std::FILE* err) {
  auto args = parse_args(argc, argv, 2, kWithValue, kSwitches, err);
  if (!args) return 2;
  if (args->help) {
    std::fputs(kUsage, out);
    return 0;
  }
  const std::string output = args->get("output").value_or("table");
  if (output != "table" && output != "json") {
    std::fprintf(err, "nodehealth: -o: want table or json, got \"%s\"\n", output.c_str());
    return 2;
  }
  ck::CheckpointOptions opt;
  opt.file_cow_breakdown = true;
  opt.measure = args->on("measure");
  if (auto v = args->get("checkpoint-dir")) {
    if (v->empty() || v->front() != '/') {
      std::fprintf(err, "nodehealth: --checkpoint-dir: want an absolute path, got \"%s\"\n",
                   v->c_str());
      return 2;
    }
    opt.checkpoint_dir = *v;
  }
  if (auto v = args->get("top")) {
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (v->empty() || ec != std::errc() || p != v->data() + v->size()) {
      std::fprintf(err, "nodehealth: --top: want a number, got \"%s\"\n", v->c_str());
      return 2;
    }
    opt.top = n;
  }
  if (auto v = args->get("cgroup")) opt.cgroup = *v;
  const HostPaths paths =
      HostPaths::under(args->get("host-root").value_or("/"), args->get("proc-root").value_or(""),
                       args->get("sys-root").value_or(""));

  int rc = 0;
  auto report = ck::estimate_checkpoints(paths, opt);
  if (!report) {
    std::fprintf(err, "nodehealth: %s\n", report.error().message.c_str());
    rc = 1;
  }
  auto audit = ck::audit_checkpoint_dir(paths, opt.checkpoint_dir);
  if (!audit) {
    std::fprintf(err, "nodehealth: %s\n", audit.error().message.c_str());
    rc = 1;
  }
  if (output == "json") {
    nlohmann::json j;
    j["estimate"] = report ? ck::to_json(*report) : nlohmann::json(nullptr);
    if (!report) j["estimateError"] = report.error().message;
    j["audit"] = audit ? ck::to_json(*audit) : nlohmann::json(nullptr);
    if (!audit) j["auditError"] = audit.error().message;
    std::fputs(json_text(j).c_str(), out);
  } else {
    std::fputs(checkpoint_table(report ? &*report : nullptr, audit ? &*audit : nullptr).c_str(),
               out);
  }
  std::fflush(out);
  return rc;
}

int checkpoint_cost(int argc, char** argv) { return checkpoint_cost(argc, argv, stdout, stderr); }

}  // namespace nodehealth::commands
