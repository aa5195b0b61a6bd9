"""Runs one unittest module for ctest: exit 0 when its tests passed, 1 when one failed, and 77
(ctest's SKIP_RETURN_CODE here) when every test was skipped, so that a cell that cannot run
shows as skipped in ctest's summary instead of passing without having tested anything."""
import sys
import unittest

module = sys.argv[1]
suite = unittest.defaultTestLoader.loadTestsFromName(module)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if not result.wasSuccessful():
    sys.exit(1)
sys.exit(77 if result.testsRun and len(result.skipped) == result.testsRun else 0)
