#include "nodehealth/host_paths.h"

namespace nodehealth {
namespace {

std::string join(std::string_view base, std::string_view rel) {
  std::string out(base);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (rel.empty()) return out;
  if (out != "/")
    out += '/';
  else
    out.clear(), out += '/';
  out += rel;
  return out;
}

// "/proc/x" under prefix "/proc" -> "x"; nullopt when not under it.
std::optional<std::string_view> strip_dir(std::string_view path, std::string_view dir) {
  if (!path.starts_with(dir)) return std::nullopt;
  std::string_view rest = path.substr(dir.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;
  return rest;
}

}  // namespace

HostPaths HostPaths::under(std::string root, std::string proc, std::string sys) {
  HostPaths p;
  p.root = root.empty() ? "/" : std::move(root);
  p.proc = proc.empty() ? join(p.root, "proc") : std::move(proc);
  p.sys = sys.empty() ? join(p.root, "sys") : std::move(sys);
  return p;
}

std::string HostPaths::proc_file(std::string_view rel) const { return join(proc, rel); }
std::string HostPaths::sys_file(std::string_view rel) const { return join(sys, rel); }

std::string HostPaths::host(std::string_view host_path) const {
  if (auto rest = strip_dir(host_path, "/proc")) return join(proc, *rest);
  if (auto rest = strip_dir(host_path, "/sys")) return join(sys, *rest);
  return join(root, host_path);
}

}  // namespace nodehealth
