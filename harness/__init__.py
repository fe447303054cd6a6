"""chaos-harness: faults on a timeline against real services under real load.

This package's ``__init__`` imports nothing on purpose: the load generator process
imports ``locust`` (which monkey-patches the process with gevent) as its very first
import, and any module imported before it (through this file) would break that.
"""

__version__ = "0.1.0"
