"""Family adapters of `refimpl diff`, one module per model family; each registers itself on import.

Every module of this package (except base) is imported here, so a new family plugs in by adding a
file that calls register_family(...) - the diff code never names a family.
"""
import importlib
import pkgutil

from .base import FAMILIES, FamilyAdapter, ImageAdapter, Task, TextAdapter, get_family, make_labels, register_family

__all__ = ["FAMILIES", "FamilyAdapter", "TextAdapter", "ImageAdapter", "Task", "register_family", "get_family",
           "make_labels"]

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
