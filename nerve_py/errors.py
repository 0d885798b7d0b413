"""nerve_py's exceptions. Only cli.py turns them into exit codes."""


class NerveError(Exception):
    """Base of nerve_py's errors."""


class ConfigError(NerveError):
    """A config file is wrong: names the file, the key path and the problem."""

    def __init__(self, source: str, key_path: str, problem: str):
        self.source, self.key_path, self.problem = source, key_path, problem
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: {problem}")
