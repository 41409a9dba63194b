"""Fakes shipped for tests of huiliu and of projects built on it."""

from huiliu.testing.clock import FakeClock

__all__ = ["FakeClock"]
