"""The command-line contract every input surface is tested against (by hand-written cases and
by the property tests): exit code 0, 1 (a trial that failed) or 2 (a user mistake); on 2,
exactly one error line (warnings aside) that names the problem; never a traceback.

`run_cli` calls the console entry point in this process and turns any exception that escapes
it into a contract violation, so a Hypothesis test shrinks it to the smallest input.
(A module with its own name, not conftest: `from contract import ...` from any test folder.)
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings

from vgg_sweep.cli import main
from vgg_sweep.errors import WARNING_PREFIX

ERROR_PREFIX = "vgg-sweep: error: "

# `make test` runs every property test with its base budget, derandomized (the same examples
# on every run); `make fuzz` multiplies the budgets by FUZZ_SCALE and draws fresh examples.
FUZZ_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))


def examples(n: int):
    """Decorator for a property test: the `property` mark and a budget of n examples."""
    budget = settings(max_examples=n * FUZZ_SCALE, deadline=None, derandomize=FUZZ_SCALE == 1,
                      database=None, suppress_health_check=list(HealthCheck))

    def mark(test):
        return pytest.mark.property(budget(test))
    return mark


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines()
                if line.strip() and not line.startswith(WARNING_PREFIX)]


def run_cli(argv: list[str]) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in argv])
        except SystemExit as done:  # a command must return, not exit the interpreter
            raise AssertionError(f"SystemExit({done.code}) escaped main({argv!r})") from done
    return CliResult(code, out.getvalue(), err.getvalue())


def assert_contract(result: CliResult, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    """Exit 0, 1 or 2; on 2 one error line; no traceback anywhere."""
    assert result.code in allowed, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err + result.out, result.err[-2000:]
    if result.code == 2:
        lines = result.error_lines
        assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), result.err[-2000:]
