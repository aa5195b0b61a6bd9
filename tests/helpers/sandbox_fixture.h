#pragma once

#include <gtest/gtest.h>

#include <string>

#include "tests/helpers/cell_limits.h"
#include "tests/helpers/identity.h"
#include "tests/helpers/subprocess.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {

// The one fixture of the integration and escape suites. It runs in the cell of the test matrix
// that ctest chose (root or an unprivileged user, tests/helpers/identity.h): every sandgate a
// test starts through RunCommand, RunProbe, the scripted controller or a pty runs as that
// identity, with the cell's pipeline. A test a cell cannot hold is skipped by name with the
// reason (tests/helpers/cell_limits.cc). Skips (with the reason) where this machine cannot start
// sandboxes at all
// or the cell cannot exist (the root cell of a suite that is not root); a missing test user is
// a failure, not a skip, so that a suite can never pass with half its matrix missing.
class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestAccount account;
    std::string why;
    if (!CellAccount(&account, &why)) {
      if (TestIdentity() == Identity::kRoot) GTEST_SKIP() << why;
      FAIL() << why;
    }
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    if (auto limit = WhyNotInThisCell(test->test_suite_name(), test->name())) {
      GTEST_SKIP() << *limit;
    }
    if (!SandboxesWork(&why)) GTEST_SKIP() << why;
  }

  // For a test that can only hold in one cell: `if (NotInCell(Identity::kRoot)) GTEST_SKIP()
  // << "why, by name"`.
  static bool NotInCell(Identity identity) { return TestIdentity() != identity; }
};

}  // namespace sandgate::testing
