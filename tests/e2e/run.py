"""Runs every tests/e2e/test_*.py and prints one closing line:
'N passed, N failed, N skipped'. With NODEHEALTH_REQUIRE_PRIVILEGED=1 a skip is a
failure (harness.need raises instead of skipping)."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
suite = unittest.defaultTestLoader.discover(here, pattern=pattern, top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = max(result.testsRun - failed - skipped, 0)
print("e2e: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
if os.environ.get("NODEHEALTH_REQUIRE_PRIVILEGED") == "1" and skipped:
    print("e2e: skips are failures with NODEHEALTH_REQUIRE_PRIVILEGED=1")
    sys.exit(1)
sys.exit(1 if failed or result.testsRun == 0 else 0)
