#include "supervisor/policy_file.h"

#include <nlohmann/json.hpp>

#include <set>
#include <utility>

namespace sandgate::supervisor {
namespace {

using nlohmann::json;

struct Invalid {
  std::string message;
};

void OnlyKeys(const json& object, const std::string& where, const std::set<std::string>& known) {
  if (!object.is_object()) throw Invalid{where + ": expected an object"};
  for (const auto& [key, value] : object.items()) {
    if (known.count(key) == 0) {
      throw Invalid{"unknown key \"" + (where.empty() ? key : where + "." + key) + "\""};
    }
  }
}

std::vector<std::string> Strings(const json& value, const std::string& where) {
  if (!value.is_array()) throw Invalid{where + ": expected an array of strings"};
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) {
      throw Invalid{where + "[" + std::to_string(i) + "]: expected a string"};
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

}  // namespace

std::variant<PolicyFile, PolicyFileError> ParsePolicyFile(const std::string& path,
                                                          const std::string& content) {
  try {
    json doc = json::parse(content);
    PolicyFile policy;
    OnlyKeys(doc, "", {"network", "filesystem"});
    if (doc.contains("network")) {
      const json& net = doc["network"];
      OnlyKeys(net, "network",
               {"mode", "allow", "deny", "route", "proxy", "dnsUpstream", "dnsStrict"});
      if (net.contains("mode")) {
        if (!net["mode"].is_string() ||
            std::set<std::string>{"off", "approve", "on"}.count(net["mode"].get<std::string>()) == 0) {
          throw Invalid{"network.mode: expected \"off\", \"approve\" or \"on\""};
        }
        policy.network_mode = net["mode"].get<std::string>();
      }
      if (net.contains("allow")) policy.rules.allow = Strings(net["allow"], "network.allow");
      if (net.contains("deny")) policy.rules.deny = Strings(net["deny"], "network.deny");
      if (net.contains("route")) policy.rules.route = Strings(net["route"], "network.route");
      for (const auto& [key, slot] : {std::pair{"proxy", &policy.proxy},
                                      std::pair{"dnsUpstream", &policy.dns_upstream}}) {
        if (!net.contains(key)) continue;
        if (!net[key].is_string()) throw Invalid{std::string("network.") + key + ": expected a string"};
        *slot = net[key].get<std::string>();
      }
      if (net.contains("dnsStrict")) {
        if (!net["dnsStrict"].is_boolean()) throw Invalid{"network.dnsStrict: expected true or false"};
        policy.dns_strict = net["dnsStrict"].get<bool>();
      }
    }
    if (doc.contains("filesystem")) {
      const json& fs = doc["filesystem"];
      OnlyKeys(fs, "filesystem", {"writableRoots", "readOnly"});
      if (fs.contains("writableRoots")) {
        policy.writable_roots = Strings(fs["writableRoots"], "filesystem.writableRoots");
      }
      if (fs.contains("readOnly")) {
        if (!fs["readOnly"].is_boolean()) throw Invalid{"filesystem.readOnly: expected true or false"};
        policy.read_only = fs["readOnly"].get<bool>();
      }
    }
    return policy;
  } catch (const Invalid& e) {
    return PolicyFileError{path + ": " + e.message};
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    return PolicyFileError{path + ": not valid JSON (" + what.substr(what.find(' ') + 1) + ")"};
  }
}

}  // namespace sandgate::supervisor
