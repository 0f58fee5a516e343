"""servicekit: the pieces every platform service is built from."""

from servicekit.app import create_app
from servicekit.settings import ServiceSettings, service_settings_config

__all__ = ["ServiceSettings", "create_app", "service_settings_config"]
