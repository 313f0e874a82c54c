// libFuzzer target: kubeconfig files (through a memfd, as the loader takes a path) and
// Node responses of the API server.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/kube/client.h"
#include "agent/sinks/kubernetes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)nodehealth::sinks::parse_node(text);
  (void)nodehealth::kube::base64_decode(text);
  const int fd = memfd_create("kubeconfig", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) == static_cast<ssize_t>(size))
    (void)nodehealth::kube::load_kubeconfig("/proc/self/fd/" + std::to_string(fd));
  close(fd);
  return 0;
}
