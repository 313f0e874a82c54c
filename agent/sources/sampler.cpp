#include "agent/sources/sampler.h"

#include <chrono>
#include <exception>

#include <spdlog/spdlog.h>

namespace nodehealth::sources {

Sampler::Sampler(std::vector<std::unique_ptr<Source>> sources) : sources_(std::move(sources)) {}

Sample Sampler::sample(TimePoint now) {
  Sample s;
  s.taken_at = now;
  s.sources.reserve(sources_.size());
  for (auto& src : sources_) {
    SourceStatus st;
    st.name = std::string(src->name());
    const auto start = std::chrono::steady_clock::now();
    Result<void> r;
    try {
      r = src->collect(s);
    } catch (const std::exception& e) {  // a bug in a source must not stop the agent
      r = fail(std::string("unexpected exception: ") + e.what());
    }
    st.duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    st.up = r.has_value();
    if (!st.up) st.error = r.error().message;

    auto [it, first] = last_error_.try_emplace(st.name, st.error);
    if (first) {
      if (!st.up) spdlog::warn("source down: {} source={}", st.error, st.name);
    } else if (it->second != st.error) {
      if (st.up) {
        spdlog::info("source up: recovered source={}", st.name);
      } else if (it->second.empty()) {
        spdlog::warn("source down: {} source={}", st.error, st.name);
      }
      it->second = st.error;
    }
    s.sources.push_back(std::move(st));
  }
  return s;
}

}  // namespace nodehealth::sources
