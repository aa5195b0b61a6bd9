#pragma once

#include <optional>
#include <string>

namespace sandgate::testing {

// Why the test `suite.name` cannot hold in this matrix cell, or nullopt when it can. A cell that
// cannot keep a promise says so here, by test name, with the reason and the test that checks
// what the cell promises instead; the fixture skips with that reason (never a silent pass).
[[nodiscard]] std::optional<std::string> WhyNotInThisCell(const std::string& suite,
                                                          const std::string& name);

}  // namespace sandgate::testing
