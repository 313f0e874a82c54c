// A small Kubernetes API client: HTTPS on libcurl, JSON on nlohmann-json. It knows
// where to find a cluster (in-cluster service account, or a kubeconfig file) and
// makes one request at a time on one reused connection. No I/O at construction;
// errors are values naming the file or the request.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "nodehealth/result.h"

namespace nodehealth::kube {

struct ClusterConfig {
  std::string server;               // https://host:port
  std::string ca_file;              // PEM file of the cluster CA ("" with ca_pem or system CAs)
  std::string ca_pem;               // PEM bytes (kubeconfig certificate-authority-data)
  std::string token;                // a bearer token
  std::string token_file;           // re-read about every minute (bound tokens rotate)
  std::string cert_file, key_file;  // client certificate
  std::string cert_pem, key_pem;    // client certificate from *-data fields
  bool insecure = false;            // insecure-skip-tls-verify (kubeconfig only)
  std::string origin;               // "in-cluster" or the kubeconfig path, for logs
};

// The service account's view: KUBERNETES_SERVICE_HOST / _PORT, <sa_dir>/token and
// ca.crt. nullopt when the variables are absent (not in a cluster).
std::optional<Result<ClusterConfig>> in_cluster_config(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// A kubeconfig file: its current context's cluster (server, certificate-authority[-data],
// insecure-skip-tls-verify) and user (token, tokenFile, client-certificate[-data],
// client-key[-data]). Relative paths are relative to the file. Errors name the file
// and the key.
Result<ClusterConfig> load_kubeconfig(const std::string& path);

// Base64 (RFC 4648, with padding; whitespace ignored) as used by kubeconfig *-data.
Result<std::string> base64_decode(std::string_view in);

// A Retry-After header's value (after the colon) in delay-seconds, capped at an hour; nullopt
// for an HTTP date, zero, or anything else (the sink's own backoff applies then).
inline constexpr std::chrono::seconds kMaxRetryAfter{3600};
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

struct Response {
  long code = 0;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;  // a 429's or 503's Retry-After
};

class Client {
 public:
  explicit Client(ClusterConfig cfg, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One request; a transport failure (refused, TLS, timeout) is an error, any HTTP
  // status a Response.
  Result<Response> request(const std::string& method, const std::string& path,
                           const std::string& content_type = "", const std::string& body = "");
  const ClusterConfig& config() const { return cfg_; }

  // A deadline for every request from now on, including the one in flight (cut within about
  // a second of it, by curl's progress callback); safe to call from another thread. For the
  // agent's shutdown: its last write must not hold up the exit.
  void set_deadline(std::chrono::steady_clock::time_point t);
  bool deadline_passed() const;

 private:
  Result<std::string> bearer();
  Result<Response> perform(const std::string& method, const std::string& path,
                           const std::string& content_type, const std::string& body);
  ClusterConfig cfg_;
  std::chrono::milliseconds timeout_;
  void* curl_ = nullptr;  // CURL*
  std::string token_;
  std::chrono::steady_clock::time_point token_read_{};
  std::atomic<int64_t> deadline_ns_{0};  // steady clock; 0: none
};

}  // namespace nodehealth::kube
