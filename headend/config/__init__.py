"""Fleet configuration: pydantic models loaded from TOML, key references, driver settings."""

from headend.config.errors import ConfigError, ConfigProblem
from headend.config.fleet import Fleet, ReadingPlan, ReadingPolicy
from headend.config.loader import HeadendConfig, load_config
from headend.config.settings import meter_settings

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "Fleet",
    "HeadendConfig",
    "ReadingPlan",
    "ReadingPolicy",
    "load_config",
    "meter_settings",
]
