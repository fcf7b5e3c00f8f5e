"""Broken variant, for real: load an extension module that does not declare it can run
without the GIL (a CPython test module), which turns the GIL back on in a free-threaded
interpreter, as importing CrossHair does."""

import importlib
import importlib.util
from importlib.machinery import ExtensionFileLoader


def test_loads_gil_needing_extension() -> None:
    path = importlib.import_module("_testmultiphase").__file__
    assert path is not None
    name = "_testmultiphase_null_slots"  # a module definition without a Py_mod_gil slot
    loader = ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    loader.exec_module(importlib.util.module_from_spec(spec))


def test_after() -> None:
    pass
