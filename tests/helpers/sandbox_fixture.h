#pragma once

#include <gtest/gtest.h>

#include "tests/helpers/subprocess.h"
#include "tests/helpers/temp_dir.h"

namespace sandgate::testing {

// Skips (with the reason) where this machine cannot start bubblewrap sandboxes at all.
class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!SandboxesWork(&why)) GTEST_SKIP() << why;
  }
};

}  // namespace sandgate::testing
