"""Retry policies in flow files: per flow and per call step, validated when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_fixtures import write_flow
from test_flow_loader import ACTIONS, BASE, load_error, position

from huiliu.bus import RetryPolicy
from huiliu.errors import RateLimited, TransientError
from huiliu.flows import CallStep, load_flow
from huiliu.i18n import t

FLOW_RETRY = BASE.replace('trigger:\n', 'retry: {max_attempts: 4, initial_interval: 2, max_interval: 30}\ntrigger:\n')


def _call(flow_text: str, tmp_path: Path) -> CallStep:
    flow = load_flow(write_flow(tmp_path, flow_text), known_actions=ACTIONS)
    step = flow.steps[-1]
    assert isinstance(step, CallStep)
    return step


def test_no_policy_means_the_hubs_default(tmp_path: Path) -> None:
    assert _call(BASE, tmp_path).retry is None


def test_flow_policy_applies_to_its_calls_and_a_step_overrides_it(tmp_path: Path) -> None:
    policy = _call(FLOW_RETRY, tmp_path).retry
    assert policy is not None
    assert (policy.max_attempts, policy.initial_interval, policy.max_interval) == (4, 2.0, 30.0)
    override = FLOW_RETRY.replace(
        "    call: kingdee.voucher.create\n",
        "    call: kingdee.voucher.create\n    retry: {max_attempts: 2, non_retryable: [rate_limited]}\n")
    step_policy = _call(override, tmp_path).retry
    assert step_policy is not None
    assert step_policy.max_attempts == 2
    assert step_policy.non_retryable == frozenset({"rate_limited"})
    assert step_policy.next_delay(1, RateLimited(system="kingdee", operation="Save", retry_after=1)) is None
    assert step_policy.next_delay(1, TransientError(t("x", "x"), system="kingdee", operation="Save")) is not None


def test_retry_on_a_step_that_is_not_a_call_is_refused_with_its_line(tmp_path: Path) -> None:
    text = BASE.replace("    lookup: {entity", "    retry: {max_attempts: 3}\n    lookup: {entity")
    error = load_error(tmp_path, text, known_actions=ACTIONS)
    assert position(error).startswith("8:")
    assert "retry" in error.render()


@pytest.mark.parametrize(("policy", "needle"), [
    ("{max_interval: 1, initial_interval: 5}", "max_interval"),
    ("{max_attempts: 0}", "max_attempts"),
    ("{jitter: 2}", "jitter"),
    ("{non_retryable: [vendor_rejected]}", "non_retryable"),
    ("{attempts: 3}", "attempts"),
])
def test_bad_policies_are_load_errors(tmp_path: Path, policy: str, needle: str) -> None:
    error = load_error(tmp_path, BASE.replace("trigger:\n", f"retry: {policy}\ntrigger:\n"), known_actions=ACTIONS)
    assert position(error).startswith("4:")
    assert needle in error.render()


def test_policy_non_retryable_kinds() -> None:
    policy = RetryPolicy(non_retryable=frozenset({"internal_error"}))
    assert policy.next_delay(1, KeyError("a bug")) is None
    assert RetryPolicy().next_delay(1, KeyError("a bug")) is not None
