"""The examples in the package's docstrings run, one test per module."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import skewless

MODULES = sorted(info.name for info in pkgutil.walk_packages(skewless.__path__, prefix="skewless."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
