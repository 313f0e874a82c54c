// measure_write_throughput: write + fsync of a test file in the checkpoint directory's
// filesystem, removed afterwards whatever happens.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "agent/checkpoint/checkpoint.h"
#include "nodehealth/unique_fd.h"

namespace nodehealth::checkpoint {
namespace {

// Unlinks the test file when it goes out of scope.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveOnExit() { ::unlink(path_.c_str()); }
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;

 private:
  std::string path_;
};

// The directory itself when it exists, else its nearest existing ancestor.
Result<std::string> existing_dir(std::string dir) {
  if (dir.empty()) dir = "/";
  for (;;) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return fail(dir + ": not a directory");
      return dir;
    }
    const int err = errno;
    if ((err != ENOENT && err != ENOTDIR) || dir == "/") return errno_error("stat " + dir, err);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    const auto slash = dir.find_last_of('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
}

}  // namespace

Result<Throughput> measure_write_throughput(const std::string& dir_in, uint64_t bytes) {
  if (bytes == 0) return fail("measure: zero bytes to write");
  auto dir = existing_dir(dir_in);
  if (!dir) return std::unexpected(dir.error());
  struct statvfs vfs {};
  if (::statvfs(dir->c_str(), &vfs) != 0) return errno_error("statvfs " + *dir, errno);
  const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (avail < 4 * bytes)
    return fail("measure: only " + std::to_string(avail) + " bytes free in " + *dir +
                ", not writing a " + std::to_string(bytes) + "-byte test file");

  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
  const std::string path = (*dir == "/" ? "" : *dir) + "/nodehealth-test-" +
                           std::to_string(::getpid()) + "-" + suffix + ".tmp";

  // Incompressible data, different in every chunk (no filesystem can dedupe or compress it).
  std::vector<uint64_t> chunk((1 << 20) / sizeof(uint64_t));
  for (auto& w : chunk) w = rng();

  const auto start = std::chrono::steady_clock::now();
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return errno_error("measure: create " + path, errno);
  RemoveOnExit remove(path);
  uint64_t written = 0;
  while (written < bytes) {
    chunk[0] = rng();
    const std::size_t want =
        static_cast<std::size_t>(std::min<uint64_t>(bytes - written, chunk.size() * 8));
    const char* p = reinterpret_cast<const char*>(chunk.data());
    std::size_t done = 0;
    while (done < want) {
      const ssize_t n = ::write(fd.get(), p + done, want - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("measure: write " + path, errno);
      }
      done += static_cast<std::size_t>(n);
    }
    written += want;
  }
  if (::fsync(fd.get()) != 0) return errno_error("measure: fsync " + path, errno);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fd.reset();

  Throughput t;
  t.measured_bytes = written;
  t.measured_seconds = seconds;
  t.measured_path = *dir;
  t.measured_bytes_per_second = seconds > 0 ? static_cast<double>(written) / seconds : 0;
  // CRIU does not go faster than its own ~1 GB/s however fast the disk is.
  t.bytes_per_second = std::min(kBareCriuBytesPerSecond, *t.measured_bytes_per_second);
  if (t.bytes_per_second <= 0) t.bytes_per_second = kBareCriuBytesPerSecond;
  t.source = "measured";
  return t;
}

}  // namespace nodehealth::checkpoint
