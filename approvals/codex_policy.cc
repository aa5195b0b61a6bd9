#include "approvals/codex_policy.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace sandgate::approvals::codex {
namespace {

using nlohmann::json;

struct Failure {
  std::string message;
};

json Parse(const std::string& text, const char* option) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw Failure{std::string(option) + ": malformed JSON"};
  return value;
}

const json* Member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string String(const json& object, const char* key, const std::string& where) {
  const json* value = Member(object, key);
  if (value == nullptr || !value->is_string()) throw Failure{where + ": \"" + key + "\" must be a string"};
  return value->get<std::string>();
}

bool Bool(const json& object, const char* key, const std::string& where) {
  const json* value = Member(object, key);
  if (value == nullptr) return false;
  if (!value->is_boolean()) throw Failure{where + ": \"" + key + "\" must be true or false"};
  return value->get<bool>();
}

std::string Absolute(const std::string& path, const std::string& where) {
  if (path.empty() || path[0] != '/') throw Failure{where + ": \"" + path + "\" is not an absolute path"};
  return path;
}

void Add(std::vector<std::string>& roots, const std::string& path) {
  if (std::find(roots.begin(), roots.end(), path) == roots.end()) roots.push_back(path);
}

// $TMPDIR counts only when it names an absolute path, as Codex has it.
void AddTmpdir(std::vector<std::string>& roots, const Inputs& in) {
  if (in.tmpdir_env && !in.tmpdir_env->empty() && (*in.tmpdir_env)[0] == '/') Add(roots, *in.tmpdir_env);
}

Sandbox FromSandboxPolicy(const json& policy, const Inputs& in) {
  const std::string where = "--sandbox-policy";
  const std::string type = String(policy, "type", where);
  Sandbox out;
  if (type == "danger-full-access") {
    out.unsandboxed = true;
    out.network = true;
  } else if (type == "read-only") {
    out.network = Bool(policy, "network_access", where);
  } else if (type == "workspace-write") {
    Add(out.writable_roots, Absolute(in.policy_cwd, "--sandbox-policy-cwd"));
    if (const json* roots = Member(policy, "writable_roots")) {
      if (!roots->is_array()) throw Failure{where + ": \"writable_roots\" must be an array"};
      for (const auto& root : *roots) {
        if (!root.is_string()) throw Failure{where + ": \"writable_roots\" holds a non-string"};
        Add(out.writable_roots, Absolute(root.get<std::string>(), where + " writable_roots"));
      }
    }
    if (!Bool(policy, "exclude_slash_tmp", where)) Add(out.writable_roots, "/tmp");
    if (!Bool(policy, "exclude_tmpdir_env_var", where)) AddTmpdir(out.writable_roots, in);
    out.network = Bool(policy, "network_access", where);
  } else if (type == "external-sandbox") {
    // Codex runs inside a sandbox of someone else's: the filesystem is theirs to guard, the
    // network is what this says.
    Add(out.writable_roots, "/");
    const json* network = Member(policy, "network_access");
    const std::string access = network != nullptr && network->is_string() ? network->get<std::string>()
                                                                          : "restricted";
    if (access != "restricted" && access != "enabled") {
      throw Failure{where + ": \"network_access\" must be \"restricted\" or \"enabled\""};
    }
    out.network = access == "enabled";
  } else {
    throw Failure{where + ": unknown \"type\" \"" + type + "\""};
  }
  return out;
}

std::vector<std::string> FromFileSystemPolicy(const json& policy, const Inputs& in) {
  const std::string where = "--file-system-sandbox-policy";
  const std::string kind = String(policy, "kind", where);
  if (kind == "unrestricted") return {"/"};
  if (kind != "restricted") throw Failure{where + ": unknown \"kind\" \"" + kind + "\""};
  const json* entries = Member(policy, "entries");
  if (entries == nullptr || !entries->is_array()) throw Failure{where + ": \"entries\" must be an array"};
  std::vector<std::string> roots;
  bool reads_everything = false;
  for (const auto& entry : *entries) {
    const std::string access = String(entry, "access", where + " entry");
    const json* path = Member(entry, "path");
    if (path == nullptr) throw Failure{where + ": an entry has no \"path\""};
    const std::string path_type = String(*path, "type", where + " path");
    std::optional<std::string> resolved;  // nullopt: "minimal", the platform's own read set
    bool root = false;
    if (path_type == "path") {
      resolved = Absolute(String(*path, "path", where + " path"), where);
      root = *resolved == "/";
    } else if (path_type == "special") {
      const json* value = Member(*path, "value");
      const std::string special = value != nullptr ? String(*value, "kind", where + " special") : "";
      if (special == "root") {
        resolved = "/";
        root = true;
      } else if (special == "current_working_directory") {
        resolved = Absolute(in.policy_cwd, "--sandbox-policy-cwd");
      } else if (special == "slash_tmp") {
        resolved = "/tmp";
      } else if (special == "tmpdir") {
        if (!in.tmpdir_env || in.tmpdir_env->empty() || (*in.tmpdir_env)[0] != '/') continue;
        resolved = *in.tmpdir_env;
      } else if (special != "minimal") {
        throw Failure{where + ": unknown special path \"" + special + "\""};
      }
    } else {
      throw Failure{where + ": unknown path \"type\" \"" + path_type + "\""};
    }
    if (access == "write") {
      if (!resolved) throw Failure{where + ": \"minimal\" cannot be written"};
      Add(roots, *resolved);
    } else if (access == "read") {
      reads_everything = reads_everything || root;
    } else if (access == "deny") {
      // sandgate's sandboxes read everywhere and have no holes to punch in a writable root.
      throw Failure{where + ": \"deny\" entries are not supported by sandgate (" +
                    resolved.value_or("minimal") + ")"};
    } else {
      throw Failure{where + ": unknown \"access\" \"" + access + "\""};
    }
  }
  if (!reads_everything) {
    // Never silently weaker: sandgate cannot narrow reads to a list.
    throw Failure{where + ": sandgate lets the command read everything; a policy that does not "
                          "grant reading the root cannot be kept"};
  }
  return roots;
}

bool FromNetworkPolicy(const json& policy) {
  if (!policy.is_string()) throw Failure{"--network-sandbox-policy: must be \"restricted\" or \"enabled\""};
  const std::string value = policy.get<std::string>();
  if (value == "enabled") return true;
  if (value == "restricted") return false;
  throw Failure{"--network-sandbox-policy: unknown value \"" + value + "\""};
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

std::variant<Sandbox, Error> MapPolicies(const Inputs& in) {
  try {
    std::optional<Sandbox> legacy;
    if (in.sandbox_policy) legacy = FromSandboxPolicy(Parse(*in.sandbox_policy, "--sandbox-policy"), in);
    const bool split = in.file_system_policy || in.network_policy;
    if (split && (!in.file_system_policy || !in.network_policy)) {
      return Error{"--file-system-sandbox-policy and --network-sandbox-policy go together"};
    }
    if (!legacy && !split) return Error{"no sandbox policy: give --sandbox-policy or the split policies"};
    if (!split) return *legacy;
    Sandbox out;
    out.writable_roots =
        FromFileSystemPolicy(Parse(*in.file_system_policy, "--file-system-sandbox-policy"), in);
    out.network = FromNetworkPolicy(Parse(*in.network_policy, "--network-sandbox-policy"));
    out.unsandboxed = out.network && out.writable_roots == std::vector<std::string>{"/"} &&
                      legacy && legacy->unsandboxed;
    if (legacy) {
      // Both forms given: they must say the same.
      if (legacy->network != out.network ||
          (!legacy->unsandboxed && Sorted(legacy->writable_roots) != Sorted(out.writable_roots))) {
        return Error{"--sandbox-policy and the split policies disagree"};
      }
      return *legacy;
    }
    return out;
  } catch (const Failure& f) {
    return Error{f.message};
  } catch (const std::exception& e) {
    return Error{std::string("sandbox policy: ") + e.what()};
  }
}

}  // namespace sandgate::approvals::codex
