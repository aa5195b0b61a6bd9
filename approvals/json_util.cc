#include "approvals/json_util.h"

#include <algorithm>

#include "approvals/base64.h"

namespace sandgate::approvals {

const nlohmann::json* FindMember(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<Problem> CheckMembers(const nlohmann::json& object,
                                    std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) {
    return Problem{"expected an object"};
  }
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      return Problem{"unknown member \"" + key + "\""};
    }
  }
  return std::nullopt;
}

std::optional<Problem> ReadInteger(const nlohmann::json& object, const char* key, std::int64_t min,
                                   std::int64_t max, std::int64_t& out) {
  const nlohmann::json* value = FindMember(object, key);
  const std::string name = std::string("\"") + key + "\"";
  if (value == nullptr) {
    return Problem{"missing " + name};
  }
  if (value->is_number_unsigned()) {
    const auto u = value->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(max)) {
      return Problem{name + " out of range " + std::to_string(min) + "-" + std::to_string(max)};
    }
    out = static_cast<std::int64_t>(u);
  } else if (value->is_number_integer()) {
    out = value->get<std::int64_t>();
  } else {
    return Problem{name + " must be an integer"};
  }
  if (out < min || out > max) {
    return Problem{name + " out of range " + std::to_string(min) + "-" + std::to_string(max)};
  }
  return std::nullopt;
}

std::optional<Problem> ReadString(const nlohmann::json& object, const char* key, std::string& out) {
  const nlohmann::json* value = FindMember(object, key);
  if (value == nullptr) {
    return Problem{std::string("missing \"") + key + "\""};
  }
  if (!value->is_string()) {
    return Problem{std::string("\"") + key + "\" must be a string"};
  }
  out = value->get<std::string>();
  return std::nullopt;
}

std::optional<Problem> DecodeDataEncoding(const nlohmann::json& object, std::string& data) {
  if (FindMember(object, "encoding") == nullptr) return std::nullopt;
  std::string encoding;
  if (auto p = ReadString(object, "encoding", encoding)) return p;
  if (encoding != "base64") return Problem{"unknown encoding \"" + encoding + "\""};
  auto decoded = Base64Decode(data);
  if (!decoded) return Problem{"\"data\" is not valid base64"};
  data = std::move(*decoded);
  return std::nullopt;
}

}  // namespace sandgate::approvals
