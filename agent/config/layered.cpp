// Layered YAML configuration (see layered.h and facts §4).
//
// The drop-in walk mirrors the kubelet's mergeKubeletConfigurations
// (cmd/kubelet/app/server.go), which uses Go's filepath.WalkDir:
//   - the root is os.Lstat'ed, so a root that is itself a symlink is not descended (it is
//     treated like a file: taken only if its own name ends in ".conf");
//   - each directory's entries are read with os.ReadDir, which sorts them by name (bytewise);
//   - directories are descended in place, depth-first; symlinks are never descended (the
//     directory entry's type is the link's, not the target's);
//   - a non-directory entry is taken when filepath.Ext(name) == ".conf", i.e. the name ends
//     exactly in ".conf"; it is then read with os.ReadFile, which follows symlinks, so a
//     symlink to a regular .conf file is read through.
#include "agent/config/layered.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include <yaml-cpp/yaml.h>

namespace nodehealth::config {

using nlohmann::json;

std::string Location::str() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line);
}

Location Document::where(const std::string& pointer) const {
  std::string p = pointer;
  while (true) {
    if (auto it = origin.find(p); it != origin.end()) return it->second;
    if (p.empty()) return Location{};
    auto slash = p.rfind('/');
    p.resize(slash == std::string::npos ? 0 : slash);
  }
}

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Kind kubelet_config_kind() {
  return Kind{"kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", "kubelet config file"};
}

// ---------------------------------------------------------------------------------------------
// YAML -> JSON, YAML 1.2 core schema.

namespace {

constexpr std::string_view kTagStr = "tag:yaml.org,2002:str";
constexpr std::string_view kTagNull = "tag:yaml.org,2002:null";
constexpr std::string_view kTagBool = "tag:yaml.org,2002:bool";
constexpr std::string_view kTagInt = "tag:yaml.org,2002:int";
constexpr std::string_view kTagFloat = "tag:yaml.org,2002:float";
constexpr std::string_view kTagMap = "tag:yaml.org,2002:map";
constexpr std::string_view kTagSeq = "tag:yaml.org,2002:seq";

constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxNodes = 1'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_octal(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool all_of(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

bool core_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}
std::optional<bool> core_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool core_float_syntax(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t int_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  bool dot = false;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits == 0 && !(dot && frac_digits > 0)) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

enum class Resolved { kNull, kBool, kInt, kFloat, kString };

struct Scalar {
  Resolved kind = Resolved::kString;
  json value;
  std::string error;  // set when the text has a core-schema type but its value is unusable
};

Scalar resolve_int(std::string_view s) {
  Scalar out{Resolved::kInt, nullptr, ""};
  int base = 10;
  std::string_view digits = s;
  bool negative = false;
  if (s.starts_with("0x")) {
    base = 16;
    digits = s.substr(2);
  } else if (s.starts_with("0o")) {
    base = 8;
    digits = s.substr(2);
  } else if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    digits = s.substr(1);
  }
  if (negative) {
    int64_t v = 0;
    auto text = s;  // from_chars takes the leading '-'
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
    if (ec != std::errc() || p != text.data() + text.size()) {
      out.error = "integer out of range: " + std::string(s);
    } else {
      out.value = v;
    }
    return out;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (ec != std::errc() || p != digits.data() + digits.size()) {
    out.error = "integer out of range: " + std::string(s);
  } else if (v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    out.value = static_cast<int64_t>(v);
  } else {
    out.value = v;
  }
  return out;
}

Scalar resolve_float(std::string_view s) {
  Scalar out{Resolved::kFloat, nullptr, ""};
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    out.value = negative ? -std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::infinity();
    return out;
  }
  if (body == ".nan" || body == ".NaN" || body == ".NAN") {
    out.value = std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  double v = 0;
  auto [p, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ec != std::errc() || p != body.data() + body.size() || !std::isfinite(v)) {
    out.error = "float out of range: " + std::string(s);
    return out;
  }
  out.value = negative ? -v : v;
  return out;
}

// Resolves a plain scalar by the YAML 1.2 core schema (yaml.org/spec/1.2.2 §10.3.2).
Scalar resolve_plain(std::string_view s) {
  if (core_null(s)) return Scalar{Resolved::kNull, nullptr, ""};
  if (auto b = core_bool(s)) return Scalar{Resolved::kBool, *b, ""};
  {
    std::string_view d = s;
    if (!d.empty() && (d[0] == '+' || d[0] == '-')) d.remove_prefix(1);
    if (all_of(d, is_digit)) return resolve_int(s);
  }
  if (s.starts_with("0o") && all_of(s.substr(2), is_octal)) return resolve_int(s);
  if (s.starts_with("0x") && all_of(s.substr(2), is_hex)) return resolve_int(s);
  {
    std::string_view body = s;
    if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
    if (body == ".inf" || body == ".Inf" || body == ".INF") return resolve_float(s);
    if (s == ".nan" || s == ".NaN" || s == ".NAN") return resolve_float(s);
  }
  if (core_float_syntax(s)) return resolve_float(s);
  return Scalar{Resolved::kString, std::string(s), ""};
}

std::string describe_kind(Resolved k) {
  switch (k) {
    case Resolved::kNull:
      return "null";
    case Resolved::kBool:
      return "bool";
    case Resolved::kInt:
      return "int";
    case Resolved::kFloat:
      return "float";
    case Resolved::kString:
      return "str";
  }
  return "str";
}

std::string node_kind_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

class Converter {
 public:
  Converter(const std::string& file, Document& doc) : file_(file), doc_(doc) {}

  Result<json> convert(const YAML::Node& n, const std::string& ptr, int depth) {
    if (depth > kMaxDepth) {
      return fail(at(n) + ": nesting deeper than " + std::to_string(kMaxDepth) +
                  " levels (a recursive alias?)");
    }
    if (++nodes_ > kMaxNodes) {
      return fail(at(n) + ": document too large (more than " + std::to_string(kMaxNodes) +
                  " nodes after expanding aliases)");
    }
    switch (n.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return scalar(n);
      case YAML::NodeType::Sequence: {
        if (auto bad = check_collection_tag(n, kTagSeq)) return std::unexpected(*bad);
        json arr = json::array();
        std::size_t i = 0;
        for (auto it = n.begin(); it != n.end(); ++it, ++i) {
          const YAML::Node item = *it;
          std::string child = ptr + "/" + std::to_string(i);
          doc_.origin[child] = Location{file_, line_of(item)};
          auto v = convert(item, child, depth + 1);
          if (!v) return v;
          arr.push_back(std::move(*v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        if (auto bad = check_collection_tag(n, kTagMap)) return std::unexpected(*bad);
        json obj = json::object();
        std::map<std::string, int> first_line;
        for (auto it = n.begin(); it != n.end(); ++it) {
          const YAML::Node k = it->first;
          const YAML::Node v = it->second;
          if (!k.IsScalar()) {
            return fail(at(k) + ": mapping keys must be scalars, got " + node_kind_name(k));
          }
          const std::string key = k.Scalar();
          if (auto seen = first_line.find(key); seen != first_line.end()) {
            return fail(at(k) + ": duplicate key \"" + key + "\" (first set at line " +
                        std::to_string(seen->second) + ")");
          }
          first_line.emplace(key, line_of(k));
          std::string child = ptr + "/" + pointer_token(key);
          doc_.origin[child] = Location{file_, line_of(k)};
          auto cv = convert(v, child, depth + 1);
          if (!cv) return cv;
          obj[key] = std::move(*cv);
        }
        return obj;
      }
    }
    return json(nullptr);
  }

  static int line_of(const YAML::Node& n) {
    int line = n.Mark().line;
    return line < 0 ? 0 : line + 1;
  }

 private:
  std::string at(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return file_;
    return file_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  std::optional<Error> check_collection_tag(const YAML::Node& n, std::string_view core) const {
    const std::string& tag = n.Tag();
    if (tag.empty() || tag == "?" || tag == "!" || tag == core) return std::nullopt;
    return Error(at(n) + ": unsupported tag " + tag);
  }

  Result<json> scalar(const YAML::Node& n) {
    const std::string& tag = n.Tag();
    const std::string& text = n.Scalar();
    // Quoted and block scalars carry the non-specific tag "!": always strings.
    if (tag == "!" || tag == kTagStr) return json(text);
    if (tag == "?" || tag.empty()) {
      Scalar s = resolve_plain(text);
      if (!s.error.empty()) return fail(at(n) + ": " + s.error);
      return s.value;
    }
    Resolved want;
    if (tag == kTagNull) {
      want = Resolved::kNull;
    } else if (tag == kTagBool) {
      want = Resolved::kBool;
    } else if (tag == kTagInt) {
      want = Resolved::kInt;
    } else if (tag == kTagFloat) {
      want = Resolved::kFloat;
    } else {
      return fail(at(n) + ": unsupported tag " + tag);
    }
    Scalar s = resolve_plain(text);
    if (!s.error.empty()) return fail(at(n) + ": " + s.error);
    if (want == Resolved::kFloat && s.kind == Resolved::kInt) {
      return json(s.value.get<double>());
    }
    if (s.kind != want) {
      return fail(at(n) + ": invalid !!" + describe_kind(want) + " value \"" + text + "\"");
    }
    return s.value;
  }

  const std::string& file_;
  Document& doc_;
  std::size_t nodes_ = 0;
};

}  // namespace

Result<Document> parse_yaml(std::string_view text, const std::string& file) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return fail(file + ": " + e.msg);
    return fail(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return fail(file + ": " + e.what());
  }

  if (docs.size() > 1) {
    return fail(file + ":" + std::to_string(Converter::line_of(docs[1])) +
                ": more than one YAML document in a file is not supported");
  }
  Document doc;
  doc.files.push_back(file);
  // No document at all (empty text, only comments), or an explicit null document: nothing is
  // set. load_file decides whether that is acceptable (it is not: kind is then missing).
  if (docs.empty() || docs[0].IsNull()) {
    doc.origin[""] = Location{file, 0};
    return doc;
  }
  const YAML::Node& root = docs[0];
  if (!root.IsMap()) {
    const YAML::Mark m = root.Mark();
    return fail(file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) +
                ": the top level must be a mapping, got " + node_kind_name(root));
  }
  try {
    Converter conv(file, doc);
    doc.origin[""] = Location{file, Converter::line_of(root)};
    auto value = conv.convert(root, "", 0);
    if (!value) return std::unexpected(value.error());
    doc.value = std::move(*value);
  } catch (const std::exception& e) {
    return fail(file + ": " + e.what());
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// RFC 7386 merge patch with provenance.

namespace {

using Origins = std::map<std::string, Location>;

// Removes `ptr` and everything below it.
void erase_subtree(Origins& o, const std::string& ptr) {
  o.erase(ptr);
  const std::string prefix = ptr + "/";
  auto it = o.lower_bound(prefix);
  while (it != o.end() && it->first.starts_with(prefix)) it = o.erase(it);
}

// Copies `ptr` and everything below it from `from` into `to`.
void copy_subtree(const Origins& from, Origins& to, const std::string& ptr) {
  if (auto it = from.find(ptr); it != from.end()) to[ptr] = it->second;
  const std::string prefix = ptr + "/";
  for (auto it = from.lower_bound(prefix); it != from.end() && it->first.starts_with(prefix);
       ++it) {
    to[it->first] = it->second;
  }
}

void merge_value(json& target, const json& patch, const std::string& ptr, Origins& to,
                 const Origins& po) {
  if (!patch.is_object()) {
    // Scalars and lists replace whatever was there, subtree and provenance included.
    erase_subtree(to, ptr);
    target = patch;
    copy_subtree(po, to, ptr);
    return;
  }
  if (!target.is_object()) {
    erase_subtree(to, ptr);
    target = json::object();
  }
  if (auto it = po.find(ptr); it != po.end()) to[ptr] = it->second;
  for (const auto& [key, value] : patch.items()) {
    const std::string child = ptr + "/" + pointer_token(key);
    if (value.is_null()) {
      target.erase(key);
      erase_subtree(to, child);
      continue;
    }
    merge_value(target[key], value, child, to, po);
  }
}

}  // namespace

void merge_patch(Document& target, const Document& patch) {
  merge_value(target.value, patch.value, "", target.origin, patch.origin);
  for (const std::string& f : patch.files) {
    if (std::find(target.files.begin(), target.files.end(), f) == target.files.end())
      target.files.push_back(f);
  }
}

// ---------------------------------------------------------------------------------------------
// The drop-in directory walk.

namespace {

constexpr std::string_view kDropInExt = ".conf";

std::string join_path(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// filepath.Base: the last element, trailing slashes removed.
std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool takes(std::string_view name) { return name.ends_with(kDropInExt); }

// What the walk reports its errors against: the root and the directory's noun.
struct WalkRoot {
  const std::string& path;
  std::string_view noun;
};

std::unexpected<Error> walk_error(const WalkRoot& root, const std::string& what, int err) {
  return std::unexpected<Error>(Error("failed to walk through " + std::string(root.noun) + " \"" +
                                          root.path + "\": " + what + ": " + std::strerror(err),
                                      err));
}

Result<void> walk_dir(const WalkRoot& root, const std::string& dir, std::vector<std::string>& out,
                      int depth) {
  if (depth > 256) return walk_error(root, "open " + dir, ELOOP);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return walk_error(root, "open " + dir, errno);
  struct Entry {
    std::string name;
    unsigned char type;
  };
  std::vector<Entry> entries;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    entries.push_back(Entry{std::move(name), e->d_type});
    errno = 0;
  }
  const int read_errno = errno;
  ::closedir(d);
  if (read_errno != 0) return walk_error(root, "readdirent " + dir, read_errno);

  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  for (const Entry& e : entries) {
    const std::string path = join_path(dir, e.name);
    bool is_dir = e.type == DT_DIR;
    if (e.type == DT_UNKNOWN) {
      struct stat st {};
      if (::lstat(path.c_str(), &st) != 0) return walk_error(root, "lstat " + path, errno);
      is_dir = S_ISDIR(st.st_mode);
    }
    if (is_dir) {
      if (auto r = walk_dir(root, path, out, depth + 1); !r) return r;
    } else if (takes(e.name)) {
      out.push_back(path);
    }
  }
  return {};
}

Result<std::string> read_whole_file(const std::string& path, const std::string& noun) {
  const std::string what = "failed to read " + noun + " \"" + path + "\"";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno_error(what, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error(what, err);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    return errno_error(what, EISDIR);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(what + ": not a regular file");
  }
  std::string data;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return errno_error(what, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

// The declared apiVersion or kind: a non-empty string, "" when absent or null, or the JSON text
// of a value of another type (which then fails the comparison).
std::string declared(const json& v, const char* key) {
  auto it = v.find(key);
  if (it == v.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

Result<std::vector<std::string>> list_drop_ins(const std::string& dir, std::string_view noun) {
  const WalkRoot root{dir, noun};
  std::vector<std::string> out;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return walk_error(root, "lstat " + dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    // WalkDir visits a non-directory root (a file, or a symlink: not followed) as a file.
    if (takes(base_name(dir))) out.push_back(dir);
    return out;
  }
  if (auto r = walk_dir(root, dir, out, 0); !r) return std::unexpected(r.error());
  return out;
}

Result<Document> load_file(const std::string& path, const Kind& kind) {
  auto data = read_whole_file(path, kind.noun);
  if (!data) return std::unexpected(data.error());
  // The kubelet's configfiles loader: "kubelet config file %q was empty".
  if (data->empty()) return fail(kind.noun + " \"" + path + "\" was empty");

  auto doc = parse_yaml(*data, path);
  if (!doc) return doc;

  const std::string want = kind.api_version + ", Kind=" + kind.kind;
  const std::string got_kind = declared(doc->value, "kind");
  const std::string got_version = declared(doc->value, "apiVersion");
  // apimachinery's runtime.NewMissingKindErr / NewMissingVersionErr:
  // "Object 'Kind' is missing in '<data>'", "Object 'apiVersion' is missing in '<data>'".
  if (got_kind.empty()) {
    return fail(kind.noun + " \"" + path + "\": Object 'Kind' is missing (want kind: " + kind.kind +
                ")");
  }
  if (got_version.empty()) {
    return fail(kind.noun + " \"" + path +
                "\": Object 'apiVersion' is missing (want apiVersion: " + kind.api_version + ")");
  }
  // mergeKubeletConfigurations: "unknown apiVersion/kind: %v" with gvk.String(),
  // i.e. "<group>/<version>, Kind=<kind>".
  if (got_kind != kind.kind || got_version != kind.api_version) {
    const char* bad = got_version != kind.api_version ? "/apiVersion" : "/kind";
    return fail(doc->where(bad).str() + ": unknown apiVersion/kind: " + got_version +
                ", Kind=" + got_kind + " (want " + want + ")");
  }
  return doc;
}

Result<Document> load_layered(const std::optional<std::string>& main_file,
                              const std::optional<std::string>& drop_in_dir, const Kind& kind) {
  Document merged;
  if (main_file) {
    auto doc = load_file(*main_file, kind);
    if (!doc) return doc;
    merge_patch(merged, *doc);
  }
  if (drop_in_dir) {
    auto files = list_drop_ins(*drop_in_dir);
    if (!files) return std::unexpected(files.error());
    for (const std::string& f : *files) {
      auto doc = load_file(f, kind);
      if (!doc) return doc;
      merge_patch(merged, *doc);
    }
  }
  return merged;
}

}  // namespace nodehealth::config
