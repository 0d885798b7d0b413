"""nerve_py's exceptions. Only cli.py turns them into exit codes (its `EXIT_CODES`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class NerveError(Exception):
    """Base of nerve_py's errors: a failure at run time (a restart may help)."""


class ConfigError(NerveError):
    """A config file is wrong: names the file, the key path and the problem."""

    def __init__(self, source: str, key_path: str, problem: str):
        self.source, self.key_path, self.problem = source, key_path, problem
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: {problem}")


class ConfigProblems(ConfigError):
    """Several config problems, found in one pass so one run shows them all (one per line)."""

    def __init__(self, problems: Sequence[ConfigError]):
        self.problems = tuple(problems)
        first = self.problems[0]
        super().__init__(first.source, first.key_path, first.problem)
        self.args = ("\n".join(str(p) for p in self.problems),)

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def of(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One problem as itself, several as one ConfigProblems; each problem once."""
        seen: dict[tuple[str, str], ConfigError] = {}
        for p in _flat(problems):  # the first names the file the value is in
            seen.setdefault((p.key_path, p.problem), p)
        unique = list(seen.values())
        return unique[0] if len(unique) == 1 else cls(unique)


def _flat(problems: Sequence[ConfigError]) -> list[ConfigError]:
    return [q for p in problems for q in (p.problems if isinstance(p, ConfigProblems) else [p])]


class UnknownService(NerveError):
    """The command line names a service the config does not have."""

    def __init__(self, source: str, name: str, known: Iterable[str]):
        self.name = name
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"{source}: no service named {name!r} (services: {names})")


class SetupError(NerveError):
    """The host lacks what the config needs (a folder nerve-py cannot create or write); every
    problem found is listed, so one run shows them all."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class ReportFailures(NerveError):
    """Reporting cannot work at all: ZooKeeper refused the zk_auth credential."""
