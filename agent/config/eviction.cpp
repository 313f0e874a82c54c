// The kubelet's eviction settings (see eviction.h). Where the kubelet stops at the first error
// (Go map order makes "first" random), all problems are reported, ordered by file and line.
#include "agent/config/eviction.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>

namespace nodehealth::config {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kDefaultTransitionPeriod = 5min;  // defaults.go: zero -> 5m
constexpr std::string_view kMemory = "memory.available";
constexpr std::string_view kAllocatable = "allocatableMemory.available";
// pkg/kubelet/types: NodeAllocatableEnforcementKey and friends (validation.go).
constexpr std::string_view kPods = "pods";
constexpr std::string_view kSystemReserved = "system-reserved";
constexpr std::string_view kSystemReservedCompressible = "system-reserved-compressible";
constexpr std::string_view kKubeReserved = "kube-reserved";
constexpr std::string_view kKubeReservedCompressible = "kube-reserved-compressible";
constexpr std::string_view kNone = "none";
// parseResourceList: "CPU, memory, local storage, and PID resources are supported."
constexpr std::string_view kReservable[] = {"cpu", "memory", "ephemeral-storage", "pid"};

bool valid_signal(std::string_view s) {
  return std::find(std::begin(kKubeletSignals), std::end(kKubeletSignals), s) !=
         std::end(kKubeletSignals);
}
bool is_containerfs(std::string_view s) { return s.starts_with("containerfs."); }

// The kubelet's "unsupported eviction signal %v", plus a suggestion within edit distance 2.
std::string unsupported_signal(std::string_view signal) {
  return "unsupported eviction signal " + std::string(signal) +
         did_you_mean(signal, kKubeletSignals);
}

// strconv.ParseFloat(s, 32) for a text parse_threshold already accepted as Go float syntax.
float go_float32_value(std::string_view s) {
  std::string clean;
  for (char c : s)
    if (c != '_') clean += c;
  bool neg = false;
  std::string_view body = clean;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  std::string lower;
  for (char c : body) lower += static_cast<char>(c | 0x20);
  float f = 0;
  if (lower == "inf" || lower == "infinity") {
    f = std::numeric_limits<float>::infinity();
  } else if (lower == "nan") {
    f = std::numeric_limits<float>::quiet_NaN();
  } else if (lower.starts_with("0x")) {
    std::from_chars(body.data() + 2, body.data() + body.size(), f, std::chars_format::hex);
  } else {
    auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), f);
    if (ec == std::errc::result_out_of_range) f = std::numeric_limits<float>::infinity();
  }
  return neg ? -f : f;
}

class Reader {
 public:
  Reader(const Document& doc, Problems& problems) : doc_(doc), p_(problems) {}

  EvictionSettings run() {
    static const json kEmpty = json::object();
    root_ = doc_.value.is_object() ? &doc_.value : &kEmpty;

    if (const json* v = lookup(*root_, "mergeDefaultEvictionSettings")) {
      if (v->is_boolean()) {
        out_.merge_default_eviction_settings = v->get<bool>();
      } else {
        p_.add("/mergeDefaultEvictionSettings", "mergeDefaultEvictionSettings",
               "must be true or false, got " + describe(*v));
      }
    }
    transition_period();
    hard();
    soft();
    grace_periods();
    minimum_reclaims();
    reserved("kubeReserved", out_.kube_reserved_memory_bytes);
    reserved("systemReserved", out_.system_reserved_memory_bytes);
    enforce_node_allocatable();
    finish();
    return std::move(out_);
  }

 private:
  struct Entry {
    std::string key, text, ptr, keypath;
    bool ok = true;  // false: present with a value of the wrong type (reported)
  };

  // A map[string]string field. nullopt when absent or null; otherwise its string entries (the
  // others are reported).
  std::optional<std::vector<Entry>> string_map(const char* field) {
    const json* m = lookup(*root_, field);
    if (m == nullptr) return std::nullopt;
    const std::string ptr = std::string("/") + field;
    std::vector<Entry> out;
    if (!m->is_object()) {
      p_.add(ptr, field, "must be a mapping, got " + describe(*m));
      return out;
    }
    for (const auto& [key, value] : m->items()) {
      Entry e{key, "", ptr + "/" + pointer_token(key), std::string(field) + "[" + key + "]"};
      if (value.is_null()) continue;  // only from a hand-built Document: files drop nulls
      if (!value.is_string()) {
        std::string hint;
        if (value.is_number() || value.is_boolean()) hint = " (quote it to make it a string)";
        p_.add(e.ptr, e.keypath, "must be a string, got " + describe(value) + hint);
        e.ok = false;
        out.push_back(std::move(e));
        continue;
      }
      e.text = value.get<std::string>();
      out.push_back(std::move(e));
    }
    return out;
  }

  void transition_period() {
    const json* v = lookup(*root_, "evictionPressureTransitionPeriod");
    if (v == nullptr) return;
    const char* key = "evictionPressureTransitionPeriod";
    if (!v->is_string()) {
      // metav1.Duration only unmarshals from a string.
      p_.add("/evictionPressureTransitionPeriod", key,
             "must be a duration string such as \"5m\" or \"30s\", got " + describe(*v));
      return;
    }
    const std::string text = v->get<std::string>();
    auto d = parse::parse_duration(text);
    if (!d) {
      p_.add("/evictionPressureTransitionPeriod", key, d.error().message);
      return;
    }
    // SetDefaults_KubeletConfiguration: a zero duration becomes 5m (facts §1). A negative one is
    // accepted by the kubelet (no validation rule) and behaves as zero.
    out_.pressure_transition_period = *d == std::chrono::nanoseconds::zero()
                                          ? std::chrono::nanoseconds(kDefaultTransitionPeriod)
                                          : *d;
  }

  // One threshold statement (parseThresholdStatement). Returns true when it parsed (enabled or
  // disabled).
  bool statement(const Entry& e, const char* kind, ThresholdMap& into) {
    auto t = parse::parse_threshold(e.key, e.text);
    if (!t) {
      const std::string& msg = t.error().message;
      p_.add(e.ptr, e.keypath,
             msg.starts_with("unsupported eviction signal ") ? unsupported_signal(e.key) : msg);
      return false;
    }
    if (!*t) return true;  // "0%" or "100%": ignored by the kubelet
    if (is_containerfs(e.key)) {
      // UpdateContainerFsThresholds overwrites these with copies of nodefs (or imagefs when it
      // is split from the root filesystem): the user's value is checked and then ignored.
      return true;
    }
    into.insert_or_assign(e.key, **t);
    out_.text.insert_or_assign(std::string(kind) + "/" + e.key, e.text);
    return true;
  }

  void hard() {
    auto given = string_map("evictionHard");
    std::vector<Entry> entries;
    if (!given) {
      // loadConfigFile: "EvictionHard may be nil if it was not set in kubelet's config file";
      // then it is eviction.DefaultEvictionHard (facts §1).
      for (const auto& [signal, text] : kDefaultEvictionHard) {
        entries.push_back(Entry{std::string(signal), std::string(text),
                                "/evictionHard/" + pointer_token(signal),
                                "evictionHard[" + std::string(signal) + "]"});
      }
    } else {
      entries = *given;
      if (out_.merge_default_eviction_settings) {
        // loadConfigFile with mergeDefaultEvictionSettings: a default fills only a signal the
        // map does not mention at all ("0%" there keeps it disabled).
        for (const auto& [signal, text] : kDefaultEvictionHard) {
          const bool mentioned = std::any_of(entries.begin(), entries.end(),
                                             [&](const Entry& e) { return e.key == signal; });
          if (mentioned) continue;
          entries.push_back(Entry{std::string(signal), std::string(text),
                                  "/evictionHard/" + pointer_token(signal),
                                  "evictionHard[" + std::string(signal) + "]"});
        }
      }
    }
    for (const Entry& e : entries) {
      if (e.ok) statement(e, "hard", out_.hard);
    }
  }

  void soft() {
    auto given = string_map("evictionSoft");
    if (!given) return;
    for (const Entry& e : *given) {
      if (!e.ok) continue;
      auto t = parse::parse_threshold(e.key, e.text);
      const bool enabled = t && *t;
      if (!statement(e, "soft", out_.soft)) continue;
      if (enabled) soft_enabled_.push_back(e);
    }
  }

  void grace_periods() {
    auto given = string_map("evictionSoftGracePeriod");
    if (given) {
      for (const Entry& e : *given) {
        grace_mentioned_.insert(e.key);
        if (!e.ok) continue;
        if (!valid_signal(e.key)) {
          p_.add(e.ptr, e.keypath, unsupported_signal(e.key));
          continue;
        }
        auto d = parse::parse_duration(e.text);
        if (!d) {
          p_.add(e.ptr, e.keypath, d.error().message);  // time.ParseDuration's own text
          continue;
        }
        if (*d < std::chrono::nanoseconds::zero()) {
          p_.add(
              e.ptr, e.keypath,
              "invalid eviction grace period specified: " + e.text + ", must be a positive value");
          continue;
        }
        grace_[e.key] = *d;
        grace_text_[e.key] = e.text;
      }
    }
    // ParseThresholdConfig: every soft threshold needs a grace period; a grace period without a
    // soft threshold is parsed (and so checked) but otherwise ignored.
    for (const Entry& e : soft_enabled_) {
      if (!grace_mentioned_.contains(e.key)) {
        p_.add(e.ptr, e.keypath,
               "grace period must be specified for the soft eviction threshold " + e.key);
        continue;
      }
      auto g = grace_.find(e.key);
      if (g == grace_.end() || is_containerfs(e.key)) continue;  // reported above / ignored
      out_.soft_grace_period[e.key] = g->second;
      out_.text["gracePeriod/" + e.key] = grace_text_[e.key];
    }
  }

  // parseMinimumReclaims: a percentage must be > 0 (no "0%"/"100%" special case there, and no
  // upper bound), a quantity must not be negative (zero is allowed).
  void minimum_reclaims() {
    auto given = string_map("evictionMinimumReclaim");
    if (!given) return;
    for (const Entry& e : *given) {
      if (!e.ok) continue;
      if (!valid_signal(e.key)) {
        p_.add(e.ptr, e.keypath, unsupported_signal(e.key));
        continue;
      }
      parse::ThresholdValue v;
      if (e.text.ends_with("%")) {
        const std::string positive =
            "eviction percentage minimum reclaim " + e.key + " must be positive: " + e.text;
        double pct = 0;
        if (e.text == "0%") {
          p_.add(e.ptr, e.keypath, positive);
          continue;
        } else if (e.text == "100%") {
          pct = 1.0;
        } else {
          // parse_threshold runs the same parsePercentage; only its range checks differ.
          auto t = parse::parse_threshold(e.key, e.text);
          if (t) {
            pct = (*t)->percentage;
          } else if (t.error().message.find("must be >= 0%") != std::string::npos) {
            pct = -1;
          } else if (t.error().message.find("must be <= 100%") != std::string::npos) {
            std::string_view number = e.text;
            while (number.ends_with("%")) number.remove_suffix(1);
            pct = static_cast<double>(go_float32_value(number) / 100.0f);
          } else {
            p_.add(e.ptr, e.keypath, t.error().message);  // strconv.ParseFloat's own text
            continue;
          }
          if (pct <= 0) {
            p_.add(e.ptr, e.keypath, positive);
            continue;
          }
        }
        v.is_percentage = true;
        v.percentage = pct;
      } else {
        auto q = parse::parse_quantity(e.text);
        if (!q) {
          p_.add(e.ptr, e.keypath, q.error().message);  // resource.ParseQuantity's own text
          continue;
        }
        if (*q < 0) {
          p_.add(e.ptr, e.keypath, "negative eviction minimum reclaim specified for " + e.key);
          continue;
        }
        v.quantity = *q;
      }
      reclaim_[e.key] = v;
      reclaim_text_[e.key] = e.text;
    }
  }

  // parseResourceList, for the memory reservation node allocatable subtracts.
  void reserved(const char* field, std::optional<double>& memory) {
    auto given = string_map(field);
    if (!given) return;
    for (const Entry& e : *given) {
      if (!e.ok) continue;
      if (std::find(std::begin(kReservable), std::end(kReservable), e.key) ==
          std::end(kReservable)) {
        p_.add(e.ptr, e.keypath, "cannot reserve " + quote(e.key) + " resource");
        continue;
      }
      auto q = parse::parse_quantity(e.text);
      if (!q) {
        p_.add(e.ptr, e.keypath,
               "failed to parse quantity " + quote(e.text) + " for " + quote(e.key) +
                   " resource: " + q.error().message);
        continue;
      }
      if (*q < 0) {
        p_.add(e.ptr, e.keypath,
               "resource quantity for " + quote(e.key) + " cannot be negative: " + e.text);
        continue;
      }
      if (e.key == "memory") memory = *q;
    }
  }

  // defaults.go: nil -> ["pods"] (an explicit empty list stays empty); validation.go's checks
  // on the option names.
  void enforce_node_allocatable() {
    const json* v = lookup(*root_, "enforceNodeAllocatable");
    if (v == nullptr) return;
    const std::string ptr = "/enforceNodeAllocatable";
    const char* key = "enforceNodeAllocatable";
    if (!v->is_array()) {
      p_.add(ptr, key, "must be a list of strings, got " + describe(*v));
      return;
    }
    std::vector<std::string> values;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      const std::string iptr = ptr + "/" + std::to_string(i);
      const std::string ikey = std::string(key) + "[" + std::to_string(i) + "]";
      if (!item.is_string()) {
        p_.add(iptr, ikey, "must be a string, got " + describe(item));
        continue;
      }
      values.push_back(item.get<std::string>());
    }
    auto has = [&](std::string_view s) {
      return std::find(values.begin(), values.end(), s) != values.end();
    };
    const std::string flag = " in enforceNodeAllocatable (--enforce-node-allocatable)";
    if (has(kSystemReservedCompressible) && has(kSystemReserved)) {
      p_.add(ptr, "",
             "invalid configuration: both " + quote(kSystemReserved) + " and " +
                 quote(kSystemReservedCompressible) + " cannot be specified together" + flag);
    }
    if (has(kKubeReservedCompressible) && has(kKubeReserved)) {
      p_.add(ptr, "",
             "invalid configuration: both " + quote(kKubeReserved) + " and " +
                 quote(kKubeReservedCompressible) + " cannot be specified together" + flag);
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string& val = values[i];
      const std::string iptr = ptr + "/" + std::to_string(i);
      if (!seen.insert(val).second) {
        p_.add(iptr, "", "invalid configuration: duplicated enforcements " + quote(val) + flag);
        continue;
      }
      if (val == kNone) {
        if (values.size() > 1) {
          p_.add(iptr, "",
                 "invalid configuration: enforceNodeAllocatable (--enforce-node-allocatable) may "
                 "not contain additional enforcements when " +
                     quote(kNone) + " is specified");
        }
        continue;
      }
      if (val != kPods && val != kSystemReserved && val != kSystemReservedCompressible &&
          val != kKubeReserved && val != kKubeReservedCompressible) {
        p_.add(iptr, "",
               "invalid configuration: option " + quote(val) +
                   " specified for enforceNodeAllocatable (--enforce-node-allocatable). Valid "
                   "options are " +
                   quote(kPods) + ", " + quote(kSystemReserved) + ", " +
                   quote(kSystemReservedCompressible) + ", " + quote(kKubeReserved) + ", " +
                   quote(kKubeReservedCompressible) + " or " + quote(kNone));
      }
    }
    out_.enforce_node_allocatable = std::move(values);
  }

  void finish() {
    // Minimum reclaim belongs to the thresholds of its signal (ParseThresholdConfig), hard and
    // soft alike; one for a signal without a threshold is ignored.
    for (const auto& [signal, value] : reclaim_) {
      if (is_containerfs(signal)) continue;
      if (!out_.hard.contains(signal) && !out_.soft.contains(signal)) continue;
      out_.minimum_reclaim[signal] = value;
      out_.text["minimumReclaim/" + signal] = reclaim_text_[signal];
    }
    // addAllocatableThresholds, when enforceNodeAllocatable contains "pods": every
    // memory.available threshold with no grace period (a hard one; also a soft one given "0s")
    // is copied to allocatableMemory.available, minimum reclaim included. The kubelet keeps an
    // explicit allocatableMemory.available threshold next to the copy; one map entry per signal
    // here, so the explicit one is kept and the copy dropped.
    const auto& ena = out_.enforce_node_allocatable;
    if (std::find(ena.begin(), ena.end(), kPods) == ena.end()) return;
    if (out_.hard.contains(kAllocatable)) return;
    const ThresholdMap* from = nullptr;
    std::string kind;
    if (out_.hard.contains(kMemory)) {
      from = &out_.hard;
      kind = "hard/";
    } else if (auto g = out_.soft_grace_period.find(kMemory);
               g != out_.soft_grace_period.end() && g->second == std::chrono::nanoseconds::zero()) {
      from = &out_.soft;
      kind = "soft/";
    }
    if (from == nullptr) return;
    const std::string allocatable(kAllocatable), memory(kMemory);
    out_.hard[allocatable] = from->at(memory);
    out_.text["hard/" + allocatable] = out_.text[kind + memory];
    out_.minimum_reclaim.erase(allocatable);
    out_.text.erase("minimumReclaim/" + allocatable);
    if (auto r = out_.minimum_reclaim.find(memory); r != out_.minimum_reclaim.end()) {
      out_.minimum_reclaim[allocatable] = r->second;
      out_.text["minimumReclaim/" + allocatable] = out_.text["minimumReclaim/" + memory];
    }
  }

  const Document& doc_;
  Problems& p_;
  const json* root_ = nullptr;
  EvictionSettings out_;
  std::vector<Entry> soft_enabled_;
  std::set<std::string> grace_mentioned_;
  std::map<std::string, std::chrono::nanoseconds> grace_;
  std::map<std::string, std::string> grace_text_;
  std::map<std::string, parse::ThresholdValue> reclaim_;
  std::map<std::string, std::string> reclaim_text_;
};

bool same(const parse::ThresholdValue& a, const parse::ThresholdValue& b) {
  return a.is_percentage == b.is_percentage && a.quantity == b.quantity &&
         a.percentage == b.percentage;
}

bool same(const ThresholdMap& a, const ThresholdMap& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.first == y.first && same(x.second, y.second);
  });
}

}  // namespace

bool EvictionSettings::operator==(const EvictionSettings& o) const {
  return same(hard, o.hard) && same(soft, o.soft) && soft_grace_period == o.soft_grace_period &&
         same(minimum_reclaim, o.minimum_reclaim) &&
         pressure_transition_period == o.pressure_transition_period &&
         merge_default_eviction_settings == o.merge_default_eviction_settings &&
         kube_reserved_memory_bytes == o.kube_reserved_memory_bytes &&
         system_reserved_memory_bytes == o.system_reserved_memory_bytes &&
         enforce_node_allocatable == o.enforce_node_allocatable && text == o.text;
}

ThresholdMap default_eviction_hard() {
  ThresholdMap out;
  for (const auto& [signal, text] : kDefaultEvictionHard) {
    auto t = parse::parse_threshold(signal, text);
    if (t && *t) out.emplace(std::string(signal), **t);
  }
  return out;
}

EvictionSettings collect_eviction_settings(const Document& doc, Problems& problems) {
  return Reader(doc, problems).run();
}

Result<EvictionSettings> eviction_settings(const Document& doc) {
  try {
    Problems problems(doc);
    EvictionSettings s = collect_eviction_settings(doc, problems);
    if (!problems.empty()) return fail(problems.message());
    return s;
  } catch (const std::exception& e) {  // nlohmann or allocation failures: never cross a module
    return fail(std::string("eviction settings: ") + e.what());
  }
}

}  // namespace nodehealth::config
