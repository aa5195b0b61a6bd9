#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "approvals/problem.h"

namespace sandgate::approvals {

// Type-checked reading of untrusted JSON. nlohmann's operator[] and get<> assert or throw on a
// wrong type; these helpers check first so a bad message becomes a Problem, never a crash.

// The member `key` of `object`, or nullptr when `object` is no object or has no such member.
[[nodiscard]] const nlohmann::json* FindMember(const nlohmann::json& object, const char* key);

// A Problem naming the first member not in `allowed`. Strict on purpose: a typo in a policy
// update ("alow") must not be silently dropped.
[[nodiscard]] std::optional<Problem> CheckMembers(const nlohmann::json& object,
                                                  std::initializer_list<std::string_view> allowed);

// Reads an integer member in [min, max]; Problem when missing, mistyped or out of range.
[[nodiscard]] std::optional<Problem> ReadInteger(const nlohmann::json& object, const char* key,
                                                 std::int64_t min, std::int64_t max,
                                                 std::int64_t& out);

// Reads a string member; Problem when missing or not a string.
[[nodiscard]] std::optional<Problem> ReadString(const nlohmann::json& object, const char* key,
                                                std::string& out);

// `data` as the message carries it, decoded when `object` says "encoding": "base64" (the only
// encoding there is). Shared by process/output and process/writeStdin.
[[nodiscard]] std::optional<Problem> DecodeDataEncoding(const nlohmann::json& object,
                                                        std::string& data);

}  // namespace sandgate::approvals
