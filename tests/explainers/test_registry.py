"""The registry's defaults are each method's own: the UI, Compare, code callers and replay start from the same map."""

from __future__ import annotations

import inspect

import pytest

from explainers import registry


@pytest.mark.parametrize("name", registry.names())
def test_the_registry_defaults_are_the_methods_own(name):
    method = registry.get(name)
    parameters = inspect.signature(method.explain).parameters
    for options in (method.defaults, method.compare):
        for key, value in options.items():
            assert key in parameters, f"{name}: {key} is not an option of its explain()"
            assert parameters[key].default == value, f"{name}: {key} = {value!r}, explain() says {parameters[key]!r}"
