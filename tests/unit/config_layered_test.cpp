// Tests for agent/config/layered.h: YAML -> JSON with provenance, RFC 7386 merge, the kubelet's
// --config-dir walk and per-file checks (facts §4; kubernetes-node-reference.txt, "Kubelet
// Configuration Directory Merging").
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include "tests/unit/temp_dir.h"

#include "agent/config/layered.h"

namespace nc = nodehealth::config;
using nlohmann::json;

namespace {

using nodehealth::testing::TempDir;

const std::string kKubeletHeader =
    "apiVersion: kubelet.config.k8s.io/v1beta1\n"
    "kind: KubeletConfiguration\n";

json parsed_value(const std::string& yaml) {
  auto doc = nc::parse_yaml(yaml, "expected.yaml");
  REQUIRE(doc.has_value());
  return doc->value;
}

nc::Document parse_ok(const std::string& yaml, const std::string& file = "test.yaml") {
  auto doc = nc::parse_yaml(yaml, file);
  INFO((doc ? std::string() : doc.error().message));
  REQUIRE(doc.has_value());
  return *doc;
}

std::string parse_error(const std::string& yaml, const std::string& file = "test.yaml") {
  auto doc = nc::parse_yaml(yaml, file);
  REQUIRE_FALSE(doc.has_value());
  return doc.error().message;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// parse_yaml: YAML 1.2 core schema typing

TEST_CASE("parse_yaml: plain scalars are typed by the YAML 1.2 core schema", "[config][yaml]") {
  const auto doc = parse_ok(
      "n1: null\n"
      "n2: ~\n"
      "n3:\n"
      "n4: NULL\n"
      "b1: true\n"
      "b2: True\n"
      "b3: FALSE\n"
      "s_yes: yes\n"  // YAML 1.1 bool, a string in 1.2
      "s_on: on\n"
      "i1: 42\n"
      "i2: +12\n"
      "i3: -7\n"
      "i4: 0x1F\n"
      "i5: 0o17\n"
      "i6: 012\n"  // decimal in the 1.2 core schema (no 1.1 octal)
      "f1: 1.5\n"
      "f2: .5\n"
      "f3: -1e3\n"
      "f4: 2.\n"
      "inf1: .inf\n"
      "inf2: -.Inf\n"
      "nan: .NaN\n"
      "s1: 0x\n"
      "s2: 0o8\n"
      "s3: -0x10\n"
      "s4: 1.2.3\n"
      "s5: 100Mi\n"
      "s6: 10%\n");
  const json& v = doc.value;
  CHECK(v["n1"].is_null());
  CHECK(v["n2"].is_null());
  CHECK(v["n3"].is_null());
  CHECK(v["n4"].is_null());
  CHECK(v["b1"] == json(true));
  CHECK(v["b2"] == json(true));
  CHECK(v["b3"] == json(false));
  CHECK(v["s_yes"] == json("yes"));
  CHECK(v["s_on"] == json("on"));
  CHECK(v["i1"] == json(42));
  CHECK(v["i1"].is_number_integer());
  CHECK(v["i2"] == json(12));
  CHECK(v["i3"] == json(-7));
  CHECK(v["i4"] == json(31));
  CHECK(v["i5"] == json(15));
  CHECK(v["i6"] == json(12));
  CHECK(v["f1"].is_number_float());
  CHECK(v["f1"].get<double>() == 1.5);
  CHECK(v["f2"].get<double>() == 0.5);
  CHECK(v["f3"].get<double>() == -1000.0);
  CHECK(v["f4"].get<double>() == 2.0);
  CHECK(std::isinf(v["inf1"].get<double>()));
  CHECK(v["inf1"].get<double>() > 0);
  CHECK(std::isinf(v["inf2"].get<double>()));
  CHECK(v["inf2"].get<double>() < 0);
  CHECK(std::isnan(v["nan"].get<double>()));
  CHECK(v["s1"] == json("0x"));
  CHECK(v["s2"] == json("0o8"));
  CHECK(v["s3"] == json("-0x10"));
  CHECK(v["s4"] == json("1.2.3"));
  CHECK(v["s5"] == json("100Mi"));
  CHECK(v["s6"] == json("10%"));
}

TEST_CASE("parse_yaml: quoted and block scalars are always strings", "[config][yaml]") {
  const auto doc = parse_ok(
      "a: \"123\"\n"
      "b: 'true'\n"
      "c: \"null\"\n"
      "d: \"\"\n"
      "e: |\n"
      "  42\n"
      "f: !!str 12\n"
      "g: !!float 3\n");
  const json& v = doc.value;
  CHECK(v["a"] == json("123"));
  CHECK(v["b"] == json("true"));
  CHECK(v["c"] == json("null"));
  CHECK(v["d"] == json(""));
  CHECK(v["e"] == json("42\n"));
  CHECK(v["f"] == json("12"));
  CHECK(v["g"].is_number_float());
  CHECK(v["g"].get<double>() == 3.0);
}

TEST_CASE("parse_yaml: large integers", "[config][yaml]") {
  const auto doc =
      parse_ok("max: 9223372036854775807\nbig: 18446744073709551615\nmin: -9223372036854775808\n");
  CHECK(doc.value["max"].get<int64_t>() == INT64_MAX);
  CHECK(doc.value["big"].get<uint64_t>() == UINT64_MAX);
  CHECK(doc.value["min"].get<int64_t>() == INT64_MIN);
  CHECK(parse_error("x: 1\ny: 18446744073709551616\n") ==
        "test.yaml:2:4: integer out of range: 18446744073709551616");
}

TEST_CASE("parse_yaml: provenance maps RFC 6901 pointers to file:line", "[config][yaml]") {
  const auto doc = parse_ok(
      "# comment\n"
      "top: 1\n"
      "nested:\n"
      "  a/b: x\n"
      "  m~n: y\n"
      "  deeper:\n"
      "    leaf: true\n"
      "list:\n"
      "  - one\n"
      "  - two\n",
      "/etc/x.yaml");
  CHECK(doc.value["nested"]["a/b"] == json("x"));
  CHECK(doc.where("/top").str() == "/etc/x.yaml:2");
  CHECK(doc.where("/nested").str() == "/etc/x.yaml:3");
  CHECK(doc.where("/nested/a~1b").str() == "/etc/x.yaml:4");
  CHECK(doc.where("/nested/m~0n").str() == "/etc/x.yaml:5");
  CHECK(doc.where("/nested/deeper/leaf").str() == "/etc/x.yaml:7");
  CHECK(doc.where("/list/0").str() == "/etc/x.yaml:9");
  CHECK(doc.where("/list/1").str() == "/etc/x.yaml:10");
  // No entry: the nearest ancestor's.
  CHECK(doc.where("/nested/deeper/missing").str() == "/etc/x.yaml:6");
  CHECK(doc.where("/absent").file == "/etc/x.yaml");
  CHECK(doc.origin.count("/nested/a/b") == 0);
  CHECK(nc::pointer_token("a/b~c") == "a~1b~0c");
}

TEST_CASE("Location::str", "[config][yaml]") {
  CHECK(nc::Location{"f.yaml", 3}.str() == "f.yaml:3");
  CHECK(nc::Location{"f.yaml", 0}.str() == "f.yaml");
}

TEST_CASE("parse_yaml: syntax errors carry file:line:col", "[config][yaml]") {
  const std::string err = parse_error("a: 1\nb: [1, 2\nc: 3\n", "/etc/bad.yaml");
  CHECK_THAT(err, Catch::StartsWith("/etc/bad.yaml:"));
  // yaml-cpp reports where it gave up; the line and column are there and 1-based.
  CHECK_THAT(err, Catch::Matches(R"(/etc/bad\.yaml:[0-9]+:[0-9]+: .+)"));
  CHECK(parse_error("a: b: c\n", "f.yaml") == "f.yaml:1:5: illegal map value");
}

TEST_CASE("parse_yaml: the top level must be a mapping", "[config][yaml]") {
  CHECK(parse_error("- a\n- b\n", "f.yaml") ==
        "f.yaml:1:1: the top level must be a mapping, got a sequence");
  CHECK(parse_error("just text\n", "f.yaml") ==
        "f.yaml:1:1: the top level must be a mapping, got a scalar");
  // No document at all (only comments): nothing set, not an error here.
  const auto doc = parse_ok("# nothing\n");
  CHECK(doc.value == json::object());
}

TEST_CASE("parse_yaml: duplicate keys, several documents and bad tags are errors",
          "[config][yaml]") {
  CHECK(parse_error("a: 1\nb: 2\na: 3\n", "f.yaml") ==
        "f.yaml:3:1: duplicate key \"a\" (first set at line 1)");
  CHECK(parse_error("a: 1\n---\nb: 2\n", "f.yaml") ==
        "f.yaml:3: more than one YAML document in a file is not supported");
  CHECK(parse_error("a: !custom x\n", "f.yaml") == "f.yaml:1:4: unsupported tag !custom");
  CHECK(parse_error("a: !!int abc\n", "f.yaml") == "f.yaml:1:4: invalid !!int value \"abc\"");
  CHECK(parse_error("? [1]\n: x\n", "f.yaml") ==
        "f.yaml:1:3: mapping keys must be scalars, got a sequence");
}

TEST_CASE("parse_yaml: a recursive alias is an error, not a crash", "[config][yaml]") {
  const std::string err = parse_error("x: &a [*a]\n", "f.yaml");
  CHECK_THAT(err, Catch::Contains("nesting deeper than 64 levels"));
}

// ---------------------------------------------------------------------------------------------
// merge_patch

TEST_CASE("merge_patch: the RFC 7386 appendix A examples", "[config][merge]") {
  struct Case {
    const char* target;
    const char* patch;
    const char* result;
  };
  // Each is a JSON object here because documents are mappings; the non-object cases of the
  // appendix are wrapped in {"k": ...}.
  const Case cases[] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"({"k":["a","b"]})", R"({"k":["c","d"]})", R"({"k":["c","d"]})"},
      {R"({"k":{"a":"b"}})", R"({"k":["c"]})", R"({"k":["c"]})"},
      {R"({"k":{"a":"foo"}})", R"({"k":null})", R"({})"},
      {R"({"k":{"a":"foo"}})", R"({"k":"bar"})", R"({"k":"bar"})"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"({"k":[1,2]})", R"({"k":{"a":"b","c":null}})", R"({"k":{"a":"b"}})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const Case& c : cases) {
    nc::Document target;
    target.value = json::parse(c.target);
    nc::Document patch;
    patch.value = json::parse(c.patch);
    nc::merge_patch(target, patch);
    INFO(c.target << " + " << c.patch);
    CHECK(target.value == json::parse(c.result));
  }
}

TEST_CASE("merge_patch: a replaced or deleted subtree loses its old provenance",
          "[config][merge]") {
  nc::Document base = parse_ok(
      "keep: 1\n"
      "obj:\n"
      "  a: 1\n"
      "  b:\n"
      "    deep: 2\n"
      "list:\n"
      "  - x\n"
      "  - y\n"
      "  - z\n"
      "gone:\n"
      "  child: 1\n",
      "main.yaml");
  const nc::Document patch = parse_ok(
      "obj:\n"
      "  b: scalar-now\n"
      "  c: 3\n"
      "list:\n"
      "  - only\n"
      "gone: null\n",
      "drop.conf");
  nc::merge_patch(base, patch);

  CHECK(base.value == parsed_value("keep: 1\n"
                                   "obj: {a: 1, b: scalar-now, c: 3}\n"
                                   "list: [only]\n"));
  CHECK(base.where("/keep").str() == "main.yaml:1");
  CHECK(base.where("/obj/a").str() == "main.yaml:3");
  CHECK(base.where("/obj/b").str() == "drop.conf:2");
  CHECK(base.where("/obj/c").str() == "drop.conf:3");
  CHECK(base.origin.count("/obj/b/deep") == 0);
  CHECK(base.where("/list").str() == "drop.conf:4");
  CHECK(base.where("/list/0").str() == "drop.conf:5");
  CHECK(base.origin.count("/list/1") == 0);
  CHECK(base.origin.count("/list/2") == 0);
  CHECK(base.origin.count("/gone") == 0);
  CHECK(base.origin.count("/gone/child") == 0);
  // Every provenance entry names a value that exists.
  for (const auto& [ptr, loc] : base.origin) {
    INFO(ptr);
    CHECK(base.value.contains(json::json_pointer(ptr)));
  }
}

TEST_CASE("merge_patch: a scalar replaced by a mapping takes the mapping's provenance",
          "[config][merge]") {
  nc::Document base = parse_ok("x: 1\n", "a.yaml");
  const nc::Document patch = parse_ok("\nx:\n  y: 2\n  z: null\n", "b.yaml");
  nc::merge_patch(base, patch);
  CHECK(base.value == json::parse(R"({"x":{"y":2}})"));
  CHECK(base.where("/x").str() == "b.yaml:2");
  CHECK(base.where("/x/y").str() == "b.yaml:3");
  CHECK(base.origin.count("/x/z") == 0);
}

// ---------------------------------------------------------------------------------------------
// list_drop_ins

TEST_CASE("list_drop_ins: kubelet order, bytewise, depth-first, only *.conf", "[config][dropin]") {
  TempDir t;
  t.write("d/10.conf", "");
  t.write("d/9.conf", "");
  t.write("d/50-sub/00.conf", "");
  t.write("d/50-sub/zz.conf", "");
  t.write("d/50-sub/nested/01.conf", "");
  t.write("d/50-sub/ignored.yaml", "");
  t.write("d/60.conf", "");
  t.write("d/x.conf.bak", "");
  t.write("d/X.CONF", "");
  t.write("d/70.Conf", "");
  t.write("d/notes.txt", "");
  t.write("d/conf", "");
  t.mkdir("d/empty-sub");

  auto files = nc::list_drop_ins(t / "d");
  REQUIRE(files.has_value());
  const std::vector<std::string> want = {
      t / "d/10.conf",        t / "d/50-sub/00.conf", t / "d/50-sub/nested/01.conf",
      t / "d/50-sub/zz.conf", t / "d/60.conf",        t / "d/9.conf",
  };
  CHECK(*files == want);
}

TEST_CASE("list_drop_ins: symlinked directories are not descended, symlinked files are taken",
          "[config][dropin]") {
  TempDir t;
  t.write("elsewhere/99.conf", kKubeletHeader + "port: 1\n");
  t.write("real/target.yaml", kKubeletHeader + "port: 2\n");
  t.write("d/10.conf", "");
  t.symlink(t / "elsewhere", "d/20-linkdir");
  t.symlink(t / "real/target.yaml", "d/30.conf");
  t.symlink(t / "real/target.yaml", "d/40.txt");  // a link whose name is not *.conf

  auto files = nc::list_drop_ins(t / "d");
  REQUIRE(files.has_value());
  CHECK(*files == std::vector<std::string>{t / "d/10.conf", t / "d/30.conf"});
}

TEST_CASE("list_drop_ins: a symlinked root is not descended either (filepath.WalkDir lstats it)",
          "[config][dropin]") {
  TempDir t;
  t.write("real/10.conf", "");
  t.symlink(t / "real", "link");
  auto files = nc::list_drop_ins(t / "link");
  REQUIRE(files.has_value());
  CHECK(files->empty());
  // With a trailing slash the path resolves through the link, as lstat(2) does for Go too.
  auto through = nc::list_drop_ins(t / "link/");
  REQUIRE(through.has_value());
  CHECK(*through == std::vector<std::string>{t / "link/10.conf"});
}

TEST_CASE("list_drop_ins: missing directory is an error, empty directory is no files",
          "[config][dropin]") {
  TempDir t;
  auto missing = nc::list_drop_ins(t / "nope");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "failed to walk through drop-in directory \"" + (t / "nope") +
                                       "\": lstat " + (t / "nope") + ": No such file or directory");
  CHECK(missing.error().errno_value == ENOENT);

  t.mkdir("empty");
  auto empty = nc::list_drop_ins(t / "empty");
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
}

// ---------------------------------------------------------------------------------------------
// load_file: per-file checks

TEST_CASE("load_file: an empty file is an error with the kubelet's text", "[config][file]") {
  TempDir t;
  const std::string path = t.write("10.conf", "");
  auto doc = nc::load_file(path, nc::kubelet_config_kind());
  REQUIRE_FALSE(doc.has_value());
  CHECK(doc.error().message == "kubelet config file \"" + path + "\" was empty");

  auto agent =
      nc::load_file(path, nc::Kind{"nodehealth.io/v1alpha1", "AgentConfiguration", "config file"});
  REQUIRE_FALSE(agent.has_value());
  CHECK(agent.error().message == "config file \"" + path + "\" was empty");
}

TEST_CASE("load_file: missing kind or apiVersion", "[config][file]") {
  TempDir t;
  const std::string no_kind =
      t.write("a.conf", "apiVersion: kubelet.config.k8s.io/v1beta1\nport: 1\n");
  auto a = nc::load_file(no_kind, nc::kubelet_config_kind());
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == "kubelet config file \"" + no_kind +
                                 "\": Object 'Kind' is missing (want kind: KubeletConfiguration)");

  // Only comments: the kubelet's decoder finds no kind either.
  const std::string comments = t.write("b.conf", "# nothing here\n");
  auto b = nc::load_file(comments, nc::kubelet_config_kind());
  REQUIRE_FALSE(b.has_value());
  CHECK_THAT(b.error().message,
             Catch::EndsWith("Object 'Kind' is missing (want kind: KubeletConfiguration)"));

  const std::string no_version = t.write("c.conf", "kind: KubeletConfiguration\n");
  auto c = nc::load_file(no_version, nc::kubelet_config_kind());
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        "kubelet config file \"" + no_version +
            "\": Object 'apiVersion' is missing (want apiVersion: kubelet.config.k8s.io/v1beta1)");
}

TEST_CASE("load_file: wrong apiVersion or kind names the file and line", "[config][file]") {
  TempDir t;
  const std::string wrong_version = t.write(
      "a.conf", "# drop-in\nkind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1\n");
  auto a = nc::load_file(wrong_version, nc::kubelet_config_kind());
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().message == wrong_version +
                                 ":3: unknown apiVersion/kind: kubelet.config.k8s.io/v1, "
                                 "Kind=KubeletConfiguration (want kubelet.config.k8s.io/v1beta1, "
                                 "Kind=KubeletConfiguration)");

  const std::string wrong_kind = t.write(
      "b.conf", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n");
  auto b = nc::load_file(wrong_kind, nc::kubelet_config_kind());
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().message == wrong_kind +
                                 ":2: unknown apiVersion/kind: kubelet.config.k8s.io/v1beta1, "
                                 "Kind=KubeProxyConfiguration (want kubelet.config.k8s.io/v1beta1, "
                                 "Kind=KubeletConfiguration)");
}

TEST_CASE("load_file: YAML errors and unreadable files", "[config][file]") {
  TempDir t;
  const std::string bad = t.write("bad.conf", kKubeletHeader + "port: [1\nx: 2\n");
  auto a = nc::load_file(bad, nc::kubelet_config_kind());
  REQUIRE_FALSE(a.has_value());
  CHECK_THAT(a.error().message, Catch::StartsWith(bad + ":"));
  CHECK_THAT(a.error().message, Catch::Matches(".*\\.conf:[34]:[0-9]+: .+"));

  auto missing = nc::load_file(t / "missing.conf", nc::kubelet_config_kind());
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message == "failed to read kubelet config file \"" + (t / "missing.conf") +
                                       "\": No such file or directory");

  t.mkdir("adir.conf");
  auto dir = nc::load_file(t / "adir.conf", nc::kubelet_config_kind());
  REQUIRE_FALSE(dir.has_value());
  CHECK(dir.error().message ==
        "failed to read kubelet config file \"" + (t / "adir.conf") + "\": Is a directory");
}

// ---------------------------------------------------------------------------------------------
// load_layered: the reference's three examples, exactly

TEST_CASE("load_layered: reference example 1, structure fields", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kKubeletHeader +
                                                       "port: 20250\n"
                                                       "authorization:\n"
                                                       "  mode: Webhook\n"
                                                       "  webhook:\n"
                                                       "    cacheAuthorizedTTL: \"5m\"\n"
                                                       "    cacheUnauthorizedTTL: \"30s\"\n"
                                                       "serializeImagePulls: false\n"
                                                       "address: \"192.168.0.1\"\n");
  t.write("conf.d/10-auth.conf", kKubeletHeader +
                                     "authorization:\n"
                                     "  mode: AlwaysAllow\n"
                                     "  webhook:\n"
                                     "    cacheAuthorizedTTL: \"8m\"\n"
                                     "    cacheUnauthorizedTTL: \"45s\"\n"
                                     "address: \"192.168.0.8\"\n");
  auto doc = nc::load_layered(main, t / "conf.d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value == parsed_value(kKubeletHeader + "port: 20250\n"
                                                    "serializeImagePulls: false\n"
                                                    "authorization:\n"
                                                    "  mode: AlwaysAllow\n"
                                                    "  webhook:\n"
                                                    "    cacheAuthorizedTTL: \"8m\"\n"
                                                    "    cacheUnauthorizedTTL: \"45s\"\n"
                                                    "address: \"192.168.0.8\"\n"));
  CHECK(doc->where("/port").str() == main + ":3");
  CHECK(doc->where("/authorization/webhook/cacheUnauthorizedTTL").str() ==
        (t / "conf.d/10-auth.conf") + ":7");
  CHECK(doc->where("/address").str() == (t / "conf.d/10-auth.conf") + ":8");
}

TEST_CASE("load_layered: reference example 2, lists are replaced whole", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kKubeletHeader +
                                                       "port: 20250\n"
                                                       "serializeImagePulls: false\n"
                                                       "clusterDNS:\n"
                                                       "  - \"192.168.0.9\"\n"
                                                       "  - \"192.168.0.8\"\n");
  t.write("conf.d/20-dns.conf", kKubeletHeader +
                                    "clusterDNS:\n"
                                    "  - \"192.168.0.2\"\n"
                                    "  - \"192.168.0.3\"\n"
                                    "  - \"192.168.0.5\"\n");
  auto doc = nc::load_layered(main, t / "conf.d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value == parsed_value(kKubeletHeader + "port: 20250\n"
                                                    "serializeImagePulls: false\n"
                                                    "clusterDNS:\n"
                                                    "  - \"192.168.0.2\"\n"
                                                    "  - \"192.168.0.3\"\n"
                                                    "  - \"192.168.0.5\"\n"));
  CHECK(doc->where("/clusterDNS/2").str() == (t / "conf.d/20-dns.conf") + ":6");
}

TEST_CASE(
    "load_layered: reference example 3, maps merged per key, map[string][]string lists "
    "replaced",
    "[config][layered]") {
  TempDir t;
  const std::string main = t.write("kubelet.yaml", kKubeletHeader +
                                                       "port: 20250\n"
                                                       "serializeImagePulls: false\n"
                                                       "featureGates:\n"
                                                       "  AllAlpha: false\n"
                                                       "  MemoryQoS: true\n"
                                                       "staticPodURLHeader:\n"
                                                       "  kubelet-api-support:\n"
                                                       "  - \"Authorization: 234APSDFA\"\n"
                                                       "  - \"X-Custom-Header: 123\"\n"
                                                       "  custom-static-pod:\n"
                                                       "  - \"Authorization: 223EWRWER\"\n"
                                                       "  - \"X-Custom-Header: 456\"\n");
  t.write("conf.d/30-gates.conf", kKubeletHeader +
                                      "featureGates:\n"
                                      "  MemoryQoS: false\n"
                                      "  KubeletTracing: true\n"
                                      "  DynamicResourceAllocation: true\n"
                                      "staticPodURLHeader:\n"
                                      "  custom-static-pod:\n"
                                      "  - \"Authorization: 223EWRWER\"\n"
                                      "  - \"X-Custom-Header: 345\"\n");
  auto doc = nc::load_layered(main, t / "conf.d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value == parsed_value(kKubeletHeader + "port: 20250\n"
                                                    "serializeImagePulls: false\n"
                                                    "featureGates:\n"
                                                    "  AllAlpha: false\n"
                                                    "  MemoryQoS: false\n"
                                                    "  KubeletTracing: true\n"
                                                    "  DynamicResourceAllocation: true\n"
                                                    "staticPodURLHeader:\n"
                                                    "  kubelet-api-support:\n"
                                                    "  - \"Authorization: 234APSDFA\"\n"
                                                    "  - \"X-Custom-Header: 123\"\n"
                                                    "  custom-static-pod:\n"
                                                    "  - \"Authorization: 223EWRWER\"\n"
                                                    "  - \"X-Custom-Header: 345\"\n"));
  CHECK(doc->where("/featureGates/AllAlpha").str() == main + ":6");
  CHECK(doc->where("/featureGates/MemoryQoS").str() == (t / "conf.d/30-gates.conf") + ":4");
  CHECK(doc->where("/staticPodURLHeader/kubelet-api-support/1").str() == main + ":11");
  CHECK(doc->where("/staticPodURLHeader/custom-static-pod/1").str() ==
        (t / "conf.d/30-gates.conf") + ":10");
}

TEST_CASE("load_layered: drop-ins apply in the kubelet's order (10.conf before 9.conf)",
          "[config][layered]") {
  TempDir t;
  t.write("d/10.conf", kKubeletHeader + "port: 10\nfrom10: true\n");
  t.write("d/9.conf", kKubeletHeader + "port: 9\n");
  t.write("d/50-sub/00.conf", kKubeletHeader + "address: from-sub\nport: 50\n");
  t.write("d/60.conf", kKubeletHeader + "address: from-60\n");
  t.write("d/99.conf.bak", kKubeletHeader + "port: 999\n");
  t.write("d/X.CONF", kKubeletHeader + "port: 1000\n");
  auto doc = nc::load_layered(std::nullopt, t / "d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value["port"] == json(9));             // 9.conf sorts last
  CHECK(doc->value["address"] == json("from-60"));  // 50-sub/00.conf at "50-sub", before 60
  CHECK(doc->value["from10"] == json(true));
  CHECK(doc->where("/port").str() == (t / "d/9.conf") + ":3");
}

TEST_CASE("load_layered: null in a drop-in deletes the key and its provenance",
          "[config][layered]") {
  TempDir t;
  const std::string main = t.write("main.yaml", kKubeletHeader +
                                                    "port: 1\n"
                                                    "evictionHard:\n"
                                                    "  memory.available: 100Mi\n"
                                                    "  nodefs.available: 10%\n");
  t.write("d/10.conf", kKubeletHeader +
                           "port: null\n"
                           "evictionHard:\n"
                           "  nodefs.available: ~\n");
  auto doc = nc::load_layered(main, t / "d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK_FALSE(doc->value.contains("port"));
  CHECK(doc->value["evictionHard"] == json::parse(R"({"memory.available":"100Mi"})"));
  CHECK(doc->origin.count("/port") == 0);
  CHECK(doc->origin.count("/evictionHard/nodefs.available") == 0);
  CHECK(doc->where("/evictionHard/memory.available").str() == main + ":5");
}

TEST_CASE("load_layered: the main file's own nulls are unset values", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("main.yaml", kKubeletHeader + "port: ~\naddress: x\n");
  auto doc = nc::load_layered(main, std::nullopt, nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK_FALSE(doc->value.contains("port"));
  CHECK(doc->value["address"] == json("x"));
}

TEST_CASE("load_layered: an empty drop-in directory changes nothing", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("main.yaml", kKubeletHeader + "port: 20250\n");
  t.mkdir("empty");
  auto with_dir = nc::load_layered(main, t / "empty", nc::kubelet_config_kind());
  auto without = nc::load_layered(main, std::nullopt, nc::kubelet_config_kind());
  REQUIRE(with_dir.has_value());
  REQUIRE(without.has_value());
  CHECK(with_dir->value == without->value);
  CHECK(with_dir->origin == without->origin);
  CHECK(with_dir->value["port"] == json(20250));
}

TEST_CASE("load_layered: a missing drop-in directory is an error", "[config][layered]") {
  TempDir t;
  const std::string main = t.write("main.yaml", kKubeletHeader + "port: 20250\n");
  auto doc = nc::load_layered(main, t / "missing", nc::kubelet_config_kind());
  REQUIRE_FALSE(doc.has_value());
  CHECK_THAT(doc.error().message, Catch::StartsWith("failed to walk through drop-in directory \"" +
                                                    (t / "missing") + "\""));
}

TEST_CASE("load_layered: a symlinked directory's drop-ins are not applied; a symlinked file is",
          "[config][layered]") {
  TempDir t;
  t.write("elsewhere/99.conf", kKubeletHeader + "port: 99\n");
  t.write("real/file.yaml", kKubeletHeader + "address: via-link\n");
  t.write("d/10.conf", kKubeletHeader + "port: 10\n");
  t.symlink(t / "elsewhere", "d/20-link");
  t.symlink(t / "real/file.yaml", "d/30.conf");
  auto doc = nc::load_layered(std::nullopt, t / "d", nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value["port"] == json(10));
  CHECK(doc->value["address"] == json("via-link"));
  // Provenance names the path as walked (the link), like the kubelet's error messages.
  CHECK(doc->where("/address").str() == (t / "d/30.conf") + ":3");
}

TEST_CASE("load_layered: a bad drop-in fails the whole load, naming that drop-in",
          "[config][layered]") {
  TempDir t;
  const std::string main = t.write("main.yaml", kKubeletHeader + "port: 1\n");
  t.write("d/10.conf", kKubeletHeader + "port: 2\n");
  const std::string empty = t.write("d/20.conf", "");
  auto doc = nc::load_layered(main, t / "d", nc::kubelet_config_kind());
  REQUIRE_FALSE(doc.has_value());
  CHECK(doc.error().message == "kubelet config file \"" + empty + "\" was empty");

  TempDir u;
  const std::string main2 = u.write("main.yaml", kKubeletHeader + "port: 1\n");
  const std::string bad = u.write("d/10.conf", kKubeletHeader + "port: [\n");
  auto doc2 = nc::load_layered(main2, u / "d", nc::kubelet_config_kind());
  REQUIRE_FALSE(doc2.has_value());
  CHECK_THAT(doc2.error().message, Catch::StartsWith(bad + ":"));
}

TEST_CASE("load_layered: neither file nor directory is an empty document", "[config][layered]") {
  auto doc = nc::load_layered(std::nullopt, std::nullopt, nc::kubelet_config_kind());
  REQUIRE(doc.has_value());
  CHECK(doc->value == json::object());
  CHECK(doc->origin.empty());
}
