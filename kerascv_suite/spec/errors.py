"""The one error type a user's spec can cause, carrying every problem found in one pass."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (spec, data, files): one line per problem, no traceback.

    The command line prints each line and exits with status 2.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class SpecError(UserError):
    """One or more problems with a spec, each naming the file:line, the key path and what is allowed."""


class DataError(UserError):
    """A data source or file the pipeline cannot use (missing, unreadable, wrong shape)."""
