"""The one list of methods, and a package root that stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from servers import ROOT

from explainers import registry
from explainers.errors import OptionError
from explainers.methods import gradcam, integrated_gradients, occlusion


def test_every_registered_method_loads_its_own_module_explain():
    assert registry.get("gradcam").explain is gradcam.explain
    assert registry.get("occlusion").explain is occlusion.explain
    assert registry.get("integrated_gradients").explain is integrated_gradients.explain


def test_an_unknown_method_lists_the_known_ones():
    with pytest.raises(OptionError, match="unknown method 'lime'; choose one of gradcam"):
        registry.get("lime")


def test_labels_fall_back_to_the_name():
    assert registry.label("integrated_gradients") == "Integrated gradients"
    assert registry.label("something else") == "something else"


def test_only_gradient_methods_get_the_randomisation_check():
    assert {name for name, m in registry.METHODS.items() if m.sanity} == {"gradcam", "integrated_gradients"}


@pytest.mark.parametrize(
    "module", ["explainers", "explainers.registry", "explainers.trust.report", "explainers.options"]
)
def test_light_modules_import_without_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.parametrize("name", registry.names())
def test_the_registry_defaults_are_the_methods_own(name):
    method = registry.get(name)
    parameters = inspect.signature(method.explain).parameters
    for options in (method.defaults, method.compare):
        for key, value in options.items():
            assert key in parameters, f"{name}: {key} is not an option of its explain()"
            assert parameters[key].default == value, f"{name}: {key} = {value!r}, explain() says {parameters[key]!r}"
