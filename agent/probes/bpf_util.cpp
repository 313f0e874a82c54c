#include "agent/probes/bpf_util.h"

#include <bpf/btf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace nodehealth::probes {

Error bpf_error(std::string_view what, int err) {
  if (err < 0) err = -err;
  return Error{std::string(what) + ": " + std::strerror(err)};
}

OpenOpts::OpenOpts(const ProbeOptions& o) : btf(o.btf_path) {
  opts.sz = sizeof(opts);
  if (!btf.empty()) opts.btf_custom_path = btf.c_str();
}

uint64_t percpu_sum(int map_fd, uint32_t key) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return 0;
  std::vector<uint64_t> values(static_cast<std::size_t>(ncpu));
  if (bpf_map_lookup_elem(map_fd, &key, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

std::vector<std::pair<std::string, int>> object_programs(const bpf_object* obj) {
  std::vector<std::pair<std::string, int>> out;
  bpf_program* p;
  bpf_object__for_each_program(p, obj) {
    const int fd = bpf_program__fd(p);
    if (fd >= 0) out.emplace_back(bpf_program__name(p), fd);
  }
  return out;
}

std::vector<ProgramStats> program_stats(const std::vector<std::pair<std::string, int>>& progs) {
  std::vector<ProgramStats> out;
  for (const auto& [name, fd] : progs) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    ProgramStats st;
    st.name = name;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      st.run_time_ns = info.run_time_ns;
      st.run_count = info.run_cnt;
    }
    out.push_back(std::move(st));
  }
  return out;
}

Log2Histogram histogram(const __u64* slots, std::size_t n, uint64_t sum_ns) {
  Log2Histogram h;
  h.slots.assign(slots, slots + n);
  h.sum_ns = sum_ns;
  return h;
}

CgroupResolver::CgroupResolver(std::string hierarchy, std::chrono::nanoseconds min_rescan)
    : root_(std::move(hierarchy)), min_rescan_(min_rescan) {}

std::string CgroupResolver::path(uint64_t id) {
  if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  const auto now = std::chrono::steady_clock::now();
  if (!scanned_ || now - last_scan_ >= min_rescan_) {
    rescan();
    if (auto it = paths_.find(id); it != paths_.end()) return it->second;
  }
  return "";
}

void CgroupResolver::rescan() {
  namespace fs = std::filesystem;
  constexpr std::size_t kMaxCgroups = 100000;  // bounds the walk on a huge node
  scanned_ = true;
  last_scan_ = std::chrono::steady_clock::now();
  paths_.clear();
  if (root_.empty()) return;
  struct stat st {};
  if (::stat(root_.c_str(), &st) == 0) paths_[st.st_ino] = "/";
  std::error_code ec;
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_directory(ec) || it->is_symlink(ec)) {
      continue;
    }
    if (::stat(it->path().c_str(), &st) != 0) continue;
    paths_[st.st_ino] = "/" + fs::relative(it->path(), root_, ec).string();
    if (paths_.size() >= kMaxCgroups) break;
  }
}

namespace {

// The kernel's BTF, or the configured file; null when neither loads.
std::unique_ptr<btf, void (*)(btf*)> load_btf(const ProbeOptions& o) {
  btf* b = o.btf_path.empty() ? btf__load_vmlinux_btf() : btf__parse(o.btf_path.c_str(), nullptr);
  if (!b || libbpf_get_error(b)) b = nullptr;
  return {b, btf__free};
}

}  // namespace

Result<void> check_requirements(const ProbeOptions& o, const std::vector<std::string>& tps) {
  if (!load_btf(o))
    return fail(o.btf_path.empty()
                    ? "no kernel BTF (/sys/kernel/btf/vmlinux): set bpf.btfPath to a BTF file"
                    : "cannot read the BTF file " + o.btf_path + " (bpf.btfPath)");
  if (o.tracefs.empty()) return fail("tracefs is not mounted (and could not be mounted)");
  for (const auto& tp : tps)
    if (!tracepoint_exists(o, tp))
      return fail("tracepoint " + tp + " does not exist on this kernel");
  return {};
}

bool tracepoint_exists(const ProbeOptions& o, std::string_view tp) {
  if (o.tracefs.empty() || std::find(o.missing_tracepoints.begin(), o.missing_tracepoints.end(),
                                     tp) != o.missing_tracepoints.end())
    return false;
  struct stat st {};
  return ::stat((o.tracefs + "/events/" + std::string(tp) + "/id").c_str(), &st) == 0;
}

bool tp_btf_arg_is_pointer(const ProbeOptions& o, std::string_view name, int index) {
  if (o.no_tp_btf) return false;
  auto b = load_btf(o);
  if (!b) return false;
  const std::string tname = "btf_trace_" + std::string(name);
  const int id = btf__find_by_name_kind(b.get(), tname.c_str(), BTF_KIND_TYPEDEF);
  if (id <= 0) return false;
  const btf_type* t = btf__type_by_id(b.get(), btf__type_by_id(b.get(), id)->type);  // PTR
  if (!t || !btf_is_ptr(t)) return false;
  t = btf__type_by_id(b.get(), t->type);  // FUNC_PROTO (void *ctx, args...)
  if (!t || !btf_is_func_proto(t) || btf_vlen(t) <= index + 1) return false;
  const btf_type* arg = btf__type_by_id(b.get(), btf_params(t)[index + 1].type);
  while (arg && (btf_is_typedef(arg) || btf_is_mod(arg))) arg = btf__type_by_id(b.get(), arg->type);
  return arg && btf_is_ptr(arg);
}

bool kernel_btf_has(const ProbeOptions& o, std::string_view name, int kind) {
  auto b = load_btf(o);
  return b && btf__find_by_name_kind(b.get(), std::string(name).c_str(), kind) > 0;
}

std::map<int64_t, std::string> kernel_enum(const ProbeOptions& o, std::string_view enum_name) {
  std::map<int64_t, std::string> out;
  auto b = load_btf(o);
  if (!b) return out;
  const std::string n(enum_name);
  int id = btf__find_by_name_kind(b.get(), n.c_str(), BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(b.get(), id);
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i)
      out[e[i].val] = btf__name_by_offset(b.get(), e[i].name_off);
    return out;
  }
  id = btf__find_by_name_kind(b.get(), n.c_str(), BTF_KIND_ENUM64);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(b.get(), id);
    const struct btf_enum64* e = btf_enum64(t);
    for (int i = 0; i < btf_vlen(t); ++i)
      out[static_cast<int64_t>(btf_enum64_value(&e[i]))] =
          btf__name_by_offset(b.get(), e[i].name_off);
  }
  return out;
}

}  // namespace nodehealth::probes
