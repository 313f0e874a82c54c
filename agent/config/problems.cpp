#include "agent/config/problems.h"

#include <algorithm>
#include <tuple>

namespace nodehealth::config {

using nlohmann::json;

void Problems::add(const std::string& pointer, const std::string& key, const std::string& what) {
  Location loc = doc_.where(pointer);
  std::string msg;
  const std::string at = loc.str();
  if (!at.empty()) msg = at + ": ";
  if (!key.empty()) msg += key + ": ";
  msg += what;
  list_.push_back(Problem{std::move(loc), std::move(msg)});
}

std::string Problems::message() const {
  // Files in merge order (Document::files), then any other file by name.
  auto rank = [this](const std::string& file) {
    auto it = std::find(doc_.files.begin(), doc_.files.end(), file);
    return static_cast<std::size_t>(it - doc_.files.begin());
  };
  std::vector<Problem> sorted = list_;
  std::stable_sort(sorted.begin(), sorted.end(), [&](const Problem& a, const Problem& b) {
    return std::tuple(rank(a.where.file), a.where.file, a.where.line) <
           std::tuple(rank(b.where.file), b.where.file, b.where.line);
  });
  std::string msg;
  for (const Problem& p : sorted) {
    if (!msg.empty()) msg += "\n";
    msg += p.message;
  }
  return msg;
}

std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "bool " + v.dump();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return "number " + v.dump();
    case json::value_t::string:
      return "string " + v.dump();
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "a mapping";
    default:
      return "a " + std::string(v.type_name());
  }
}

std::string quote(std::string_view s) { return json(std::string(s)).dump(); }

const json* lookup(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::string did_you_mean(std::string_view key, std::span<const std::string_view> candidates) {
  std::string_view best;
  std::size_t best_d = 3;
  for (std::string_view c : candidates) {
    const std::size_t dist = edit_distance(key, c);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  if (best.empty()) return "";
  return ", did you mean \"" + std::string(best) + "\"?";
}

}  // namespace nodehealth::config
