"""Test configuration: hypothesis explores new examples locally, and replays a fixed set in CI."""
import os

from hypothesis import settings

# CI runs a fixed, reproducible set of examples; local runs keep drawing new ones (and remember failures)
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
