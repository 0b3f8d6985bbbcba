"""The one error type for a bad configuration: file, key path and reason, never a secret."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str  # key path such as `meters[3].auth`; empty for the whole file
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class ConfigError(Exception):
    """A configuration that cannot be used. `problems` lists every problem found."""

    def __init__(self, file: Path | str, problems: list[ConfigProblem]) -> None:
        self.file = str(file)
        self.problems = problems
        lines = [f"{self.file}: {problem}" for problem in problems]
        super().__init__("\n".join(lines) if lines else f"{self.file}: invalid configuration")

    @classmethod
    def one(cls, file: Path | str, path: str, reason: str) -> ConfigError:
        return cls(file, [ConfigProblem(path, reason)])
