// Source "network": is there a default route (IPv4 /proc/net/route or IPv6
// /proc/net/ipv6_route), and is its interface up with carrier
// (/sys/class/net/<if>/operstate and carrier)? The interface of the up default
// route with the lowest metric is the one reported.
#include "agent/parse/proc.h"
#include "agent/sources/files.h"
#include "agent/sources/sources.h"

namespace nodehealth::sources {
namespace {

class NetworkSource final : public Source {
 public:
  explicit NetworkSource(const HostPaths& paths)
      : paths_(paths),
        route4_(paths.proc_file("net/route")),
        route6_(paths.proc_file("net/ipv6_route")) {}
  std::string_view name() const override { return "network"; }

  Result<void> collect(Sample& sample) override {
    std::vector<parse::Route> routes;
    bool any_table = false;
    for (const auto& [path, parser] : {std::pair{&route4_, &parse::parse_net_route},
                                       std::pair{&route6_, &parse::parse_net_ipv6_route}}) {
      auto text = read_file(*path);
      if (!text) {
        if (text.error().errno_value == ENOENT) continue;  // no IPv6 (or IPv4) on this kernel
        return std::unexpected(text.error());
      }
      auto parsed = parser(*text);
      if (!parsed) return std::unexpected(with_context(*path, parsed.error()));
      any_table = true;
      routes.insert(routes.end(), parsed->begin(), parsed->end());
    }
    if (!any_table) return fail("no route table: neither " + route4_ + " nor " + route6_);

    NetworkState net;
    const parse::Route* best = nullptr;
    for (const auto& r : routes) {
      if (!r.is_default || !r.up || r.interface == "lo") continue;
      if (!best || r.metric < best->metric) best = &r;
    }
    if (best) {
      net.default_route = true;
      net.interface = best->interface;
      const std::string dir = paths_.sys_file("class/net/" + best->interface);
      if (auto state = read_trimmed(dir + "/operstate")) net.operstate = *state;
      // carrier reads fail with EINVAL while the interface is administratively down.
      if (auto carrier = read_trimmed(dir + "/carrier"); carrier && !carrier->empty())
        net.carrier = (*carrier == "1");
    }
    sample.network = std::move(net);
    return {};
  }

 private:
  HostPaths paths_;
  std::string route4_, route6_;
};

}  // namespace

std::unique_ptr<Source> make_network_source(const HostPaths& paths) {
  return std::make_unique<NetworkSource>(paths);
}

}  // namespace nodehealth::sources
