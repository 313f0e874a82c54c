// Pure parsers for checkpoint-cost: /proc/<pid>/smaps_rollup, /proc/<pid>/smaps (CoW'd private
// file pages), checkpoint archive names and /var/log/containers names. Text in, struct out.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodehealth/clock.h"
#include "nodehealth/result.h"

namespace nodehealth::checkpoint {

// /proc/<pid>/smaps_rollup, values in bytes. What CRIU dumps for a process (facts §6; CRIU's
// should_dump_page) is every present or swapped page that is anonymous, i.e.
//   - private anonymous pages (heap, stacks, anonymous mmap), and
//   - copy-on-written pages of private file mappings: once written, such a page is an
//     anonymous page, so it is already in `Anonymous` (adding Private_Dirty of file
//     mappings would count it twice, and Private_Dirty also holds dirty page cache of
//     MAP_SHARED files, which CRIU does not dump: it goes to the file);
// plus the pages of shared anonymous memory, memfd and SysV shm (shmem): those are in
// `Pss_Shmem`, which splits a page shared by N processes into N parts, so the sum over the
// processes of a cgroup counts each shared page once (the process-local RssShmem of
// /proc/<pid>/status would count it N times; smaps_rollup has no Rss_Shmem).
struct SmapsRollup {
  uint64_t rss = 0;
  uint64_t anonymous = 0;  // "Anonymous": private anon pages incl. CoW'd file pages (and THP)
  uint64_t pss_shmem = 0;  // "Pss_Shmem" (kernel >= 5.9)
  uint64_t swap = 0;       // "Swap": swapped-out anonymous (and shmem) pages, dumped too
  uint64_t private_dirty = 0;
  bool has_pss_shmem = false;
};
// Empty text (a zombie, a kernel thread) is all zeros. A line "Key: N kB" that does not parse
// is an error; "Anonymous" is required in non-empty text.
Result<SmapsRollup> parse_smaps_rollup(std::string_view text);

// Feeds /proc/<pid>/smaps line by line (it can be megabytes: no need to hold it) and sums the
// `Anonymous` field of private file-backed mappings (inode != 0, 'p' in the permissions):
// the copy-on-written pages of private file mappings, a part of SmapsRollup::anonymous.
class SmapsFileCow {
 public:
  void line(std::string_view line);
  uint64_t bytes() const { return bytes_; }

 private:
  bool private_file_ = false;
  uint64_t bytes_ = 0;
};

// checkpoint-<pod>_<namespace>-<container>-<RFC3339 time>.tar (facts §6; the kubelet formats
// it as "checkpoint-%s-%s-%s.tar" of podFullName "<pod>_<namespace>", container name and
// time.RFC3339). Namespace and container names may both hold '-', so the split between them
// is ambiguous unless only one split gives two valid DNS labels, or `known_pod` (is there a
// pod <namespace>/<pod> on this node, e.g. from /var/log/pods) picks exactly one.
struct ArchiveName {
  std::string pod;
  std::string namespace_and_container;  // "<namespace>-<container>" as written
  std::string ns, container;            // empty when ambiguous
  std::vector<std::pair<std::string, std::string>> candidates;  // every (namespace, container)
  std::string time_text;                                        // as written
  std::optional<TimePoint> time;
  bool ambiguous() const { return ns.empty(); }
};
using KnownPod = std::function<bool(std::string_view ns, std::string_view pod)>;
std::optional<ArchiveName> parse_archive_name(std::string_view file_name,
                                              const KnownPod& known_pod = {});

// RFC 3339 ("2025-01-02T03:04:05Z", "...+02:00", fractional seconds allowed) to a time point.
std::optional<TimePoint> parse_rfc3339(std::string_view text);

// /var/log/containers/<pod>_<namespace>_<container>-<container id>.log, which the kubelet
// links to the container's log under /var/log/pods.
struct ContainerLogName {
  std::string pod, ns, container, container_id;
};
std::optional<ContainerLogName> parse_container_log_name(std::string_view file_name);

}  // namespace nodehealth::checkpoint
