"""Feast's ``feast.on_demand_feature_view`` module path.

Importing this module makes ``skewless.on_demand_feature_view`` name the module rather than
the decorator of the same name, so the module itself calls through to the decorator:
``from skewless import on_demand_feature_view`` works whichever was imported first.
"""

import sys
from types import ModuleType
from typing import Any

from skewless.definitions import OnDemandFeatureView
from skewless.definitions import on_demand_feature_view as _decorator

__all__ = ["OnDemandFeatureView", "on_demand_feature_view"]

on_demand_feature_view = _decorator


class _CallableModule(ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _decorator(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
