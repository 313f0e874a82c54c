// bench-bpf-floor OBJECT -- COMMAND...: loads the empty programs of OBJECT
// (tests/bench/bpf/floor.bpf.c) on their hooks with the kernel's BPF statistics
// on, runs COMMAND, and prints one JSON object: program name -> {"runs": N,
// "ns_per_run": X} for each program that ran. A kernel without one of the hooks
// fails to load the object: the bench then reports the floor as not measured.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

int silent(libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    std::fprintf(stderr, "usage: %s OBJECT -- COMMAND...\n", argv[0]);
    return 2;
  }
  libbpf_set_print(silent);
  bpf_object* obj = bpf_object__open_file(argv[1], nullptr);
  if (!obj) {
    std::fprintf(stderr, "%s: cannot open %s: %s\n", argv[0], argv[1], std::strerror(errno));
    return 1;
  }
  bpf_program* p;
  if (bpf_object__load(obj) != 0) {
    std::fprintf(stderr, "%s: cannot load %s: %s\n", argv[0], argv[1], std::strerror(errno));
    return 1;
  }
  const int stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats < 0) {
    std::fprintf(stderr, "%s: BPF statistics unavailable: %s\n", argv[0], std::strerror(errno));
    return 1;
  }
  std::vector<bpf_link*> links;
  bpf_object__for_each_program(p, obj) {
    if (bpf_link* l = bpf_program__attach(p)) links.push_back(l);
  }
  const pid_t child = fork();
  if (child == 0) {
    execvp(argv[3], argv + 3);
    std::fprintf(stderr, "%s: cannot run %s: %s\n", argv[0], argv[3], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) < 0) return 1;
  for (bpf_link* l : links) bpf_link__destroy(l);  // no more runs while they are read
  std::string out = "{";
  bpf_object__for_each_program(p, obj) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_program__fd(p) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) != 0 ||
        info.run_cnt == 0)
      continue;
    char row[160];
    std::snprintf(row, sizeof row, "%s\"%s\": {\"runs\": %llu, \"ns_per_run\": %.1f}",
                  out.size() > 1 ? ", " : "", bpf_program__name(p),
                  static_cast<unsigned long long>(info.run_cnt),
                  static_cast<double>(info.run_time_ns) / static_cast<double>(info.run_cnt));
    out += row;
  }
  std::printf("%s}\n", out.c_str());
  bpf_object__close(obj);
  close(stats);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
