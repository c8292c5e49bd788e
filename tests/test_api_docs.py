"""Every item the API reference shows has a numpydoc docstring with Parameters, Returns and an example.

The items are those ``docs/api/*.md`` documents with ``automodule``: the functions and classes named in the
``__all__`` of ``backprop``, ``backprop.sklearn``, ``backprop.cluster`` and ``backprop.datasets``, and those
defined in ``backprop.training.schedules`` (which has no ``__all__``, so autodoc shows what it defines), then
each such class's public methods and properties defined in the class itself (``vars(cls)``: autodoc's
``:members:`` without ``:inherited-members:``). So a method a class inherits from scikit-learn or the standard
library (``get_params``, ``set_fit_request``, ``__enter__``, ...) is not checked (it is not ours and
``docs/conf.py`` leaves it out of the reference), and a method inherited unchanged from a backprop base is
checked once, on the base. Submodules and constants of ``__all__`` are not functions: they are left out.

What numpydoc's ``docscrape`` must find in the docstring (``inspect.getdoc``, so an op's or loss's override of
a contract method with no docstring of its own gets the base's, and that counts):

* a function, method or class whose signature has parameters (other than ``self``/``cls``; for a class, those
  of the ``__init__`` it or a backprop base defines, none for an exception that keeps Exception's) has a
  Parameters section naming each of them (``*args`` and ``**kwargs`` by the numpydoc convention, with or
  without their stars; several names may share one entry, ``x, y : float``), and names no parameter the
  signature lacks (unless the signature takes ``**kwargs``);
* a function or method returns something unless it returns None, and then has a Returns (or Yields) section.
  It returns something when its return annotation says so (anything but ``None``/``NoReturn``), or, without
  an annotation, when its own body (not a nested function) holds ``return <value>`` or ``yield``;
* a function, method or class has an Examples section with at least one ``>>>`` line (the examples run as
  doctests in tests/test_docs.py::test_docstring_examples_run);
* a property has a docstring saying what it is (numpydoc documents a property as an attribute: no
  Parameters, Returns or example is asked of it).
"""
from __future__ import annotations

import ast
import functools
import importlib
import inspect
import textwrap
import warnings
from pathlib import Path

import pytest

import backprop

NumpyDocString = pytest.importorskip("numpydoc.docscrape").NumpyDocString

MODULES = ("backprop", "backprop.sklearn", "backprop.cluster", "backprop.datasets", "backprop.training.schedules")
SRC = Path(backprop.__file__).resolve().parent

NONE_ANNOTATIONS = {"None", "NoReturn", "Never", "typing.NoReturn", "typing.Never"}


# ---- the items ---------------------------------------------------------------------------------------------

def _ours(obj):
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "backprop"


def _members(cls):
    """(name, object) of the public methods and properties ``cls`` itself defines."""
    for name, raw in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(raw, (property, staticmethod, classmethod)) or inspect.isfunction(raw):
            yield name, raw


def public_items():
    """(qualified name, object, defining class or None) of every item the API reference shows, each once."""
    items, seen = [], set()
    for modname in MODULES:
        module = importlib.import_module(modname)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n, v in vars(module).items()
                     if not n.startswith("_") and getattr(v, "__module__", None) == modname]
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or not _ours(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            items.append((f"{modname}.{name}", obj, None))
            if inspect.isclass(obj):
                for member, raw in _members(obj):
                    if id(raw) not in seen:
                        seen.add(id(raw))
                        items.append((f"{modname}.{name}.{member}", raw, obj))
    return items


def _function_of(raw):
    if isinstance(raw, property):
        return raw.fget
    if isinstance(raw, (staticmethod, classmethod)):
        return raw.__func__
    return raw


def source_file(raw):
    """The file that defines an item, relative to src/backprop (or the absolute path if elsewhere)."""
    target = inspect.unwrap(_function_of(raw))
    try:
        path = Path(inspect.getsourcefile(target)).resolve()
    except TypeError:
        return "?"
    return path.relative_to(SRC).as_posix() if path.is_relative_to(SRC) else str(path)


# ---- what each item must have ------------------------------------------------------------------------------

def _signature_parameters(obj):
    """The parameters a reader passes: the function's, or for a class those of the ``__init__`` it defines."""
    if inspect.isclass(obj):
        owner = next((c for c in obj.__mro__ if "__init__" in vars(c)), object)
        if not _ours(owner):
            return []      # the constructor of a standard base (Exception, object): nothing of ours to document
        target, bound = owner.__init__, True
    else:
        target, bound = obj, False
    try:
        params = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return []
    if params and (bound or params[0].name in ("self", "cls")):
        params = params[1:]
    return params


def _returns_value(func):
    """Whether ``func`` returns something other than None: by its annotation, else by its own body."""
    annotation = inspect.signature(func).return_annotation
    if annotation is not inspect.Signature.empty:
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
        return annotation is not None and text not in NONE_ANNOTATIONS
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(func))))
    except (OSError, TypeError, SyntaxError):
        return True        # no source to read: ask for the section rather than miss it
    definition = tree.body[0]
    stack = list(ast.iter_child_nodes(definition))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            return True
        stack.extend(ast.iter_child_nodes(node))
    return False


def missing(obj, owner=None):
    """What is wrong with the docstring of an item, as a list of short phrases (empty when it is complete)."""
    if owner is not None:
        name = next(n for n, v in vars(owner).items() if v is obj)
        doc = inspect.getdoc(getattr(owner, name))
    else:
        doc = inspect.getdoc(obj)
    if isinstance(obj, property):
        return [] if doc and doc.strip() else ["no docstring"]
    if not doc or not doc.strip():
        return ["no docstring"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parsed = NumpyDocString(doc)
        except Exception as exc:   # numpydoc raises ValueError and others on a malformed section
            return [f"a docstring numpydoc cannot parse ({exc})"]
    problems = [f"numpydoc: {w.message}" for w in caught]
    func = _function_of(obj)
    params = _signature_parameters(func)
    documented = set()
    for p in list(parsed["Parameters"]) + list(parsed["Other Parameters"]):
        documented.update(n.strip().lstrip("*") for n in p.name.split(","))
    names = [p.name for p in params]
    if names and not parsed["Parameters"]:
        problems.append("no Parameters section")
    else:
        undocumented = [n for n in names if n not in documented]
        if undocumented:
            problems.append(f"parameters {undocumented} not in Parameters")
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params)
        unknown = sorted(documented - set(names))
        # a contract docstring inherited from a base may name an optional parameter an override leaves out
        # (``out=`` of the ops that take buffers): only an item's own docstring must match its signature
        inherited = getattr(func, "__doc__", None) is None
        if unknown and not takes_kwargs and not inherited:
            problems.append(f"Parameters names {unknown}, which the signature lacks")
    if not inspect.isclass(func) and _returns_value(func) and not parsed["Returns"] and not parsed["Yields"]:
        problems.append("no Returns section")
    if not any(line.lstrip().startswith(">>>") for line in parsed["Examples"]):
        problems.append("no Examples section with a >>> line")
    return problems


def report(items):
    """{file: [line per item lacking something]} over ``items``."""
    by_file = {}
    for name, obj, owner in items:
        lacks = missing(obj, owner)
        if lacks:
            by_file.setdefault(source_file(obj), []).append(f"  {name}: {'; '.join(lacks)}")
    return by_file


def _format(by_file):
    lines = []
    for path in sorted(by_file):
        lines.append(f"src/backprop/{path} ({len(by_file[path])}):")
        lines.extend(by_file[path])
    return "\n".join(lines)


# ---- the tests ---------------------------------------------------------------------------------------------

ITEMS = public_items()


@functools.lru_cache(maxsize=1)
def _report():
    return report(ITEMS)


def test_the_items_are_those_the_reference_shows():
    assert len(ITEMS) > 250
    names = {name for name, _, _ in ITEMS}
    assert {"backprop.train", "backprop.Loss.grad", "backprop.sklearn.MLPClassifier.fit", "backprop.History.final_loss",
            "backprop.cluster.hvp", "backprop.datasets.digits", "backprop.training.schedules.Cosine"} <= names
    # inherited from scikit-learn or from a backprop base without an override: not shown, not checked here
    assert not {"backprop.sklearn.MLPClassifier.get_params", "backprop.sklearn.MLPClassifier.score",
                "backprop.L2.div_grad", "backprop.SGD.step"} & names
    assert len(names) == len(ITEMS)


def test_every_item_of_the_api_reference_has_parameters_returns_and_an_example():
    left = _report()
    count = sum(map(len, left.values()))
    assert not left, (f"{count} items of the API reference lack part of their docstring (fix them in these "
                      f"files):\n{_format(left)}")


# ---- the checker finds what it should ---------------------------------------------------------------------

def _bare(x, y=1, *args, **kwargs):
    return x


def _complete(x, *args, **kwargs):
    """Add.

    Parameters
    ----------
    x : int
        A number.
    *args, **kwargs
        Passed on.

    Returns
    -------
    int
        ``x``.

    Examples
    --------
    >>> _complete(1)
    1
    """
    return x


def _wrong_name(x) -> int:
    """Add.

    Parameters
    ----------
    z : int
        Not the name of the signature.

    Examples
    --------
    Prose only, no prompt.
    """
    return x


def _returns_nothing(x):
    """Nothing back.

    Parameters
    ----------
    x : int
        A number.

    Examples
    --------
    >>> _returns_nothing(1)
    """
    def inner():
        return x      # a nested function's return is not this function's
    inner()
    return None


class _Base:
    def value(self, x):
        """The value.

        Parameters
        ----------
        x : float
            The input.

        Returns
        -------
        float
            ``x``.

        Examples
        --------
        >>> _Base().value(1.0)
        1.0
        """
        return x

    @property
    def size(self):
        return 1


class _Override(_Base):
    def value(self, x):
        # an override without a docstring of its own inherits the base's
        return 2 * x


def test_the_checker_names_each_missing_part():
    assert missing(_bare) == ["no docstring"]
    assert missing(_complete) == []
    lacks = missing(_wrong_name)
    assert "parameters ['x'] not in Parameters" in lacks
    assert "Parameters names ['z'], which the signature lacks" in lacks
    assert "no Returns section" in lacks
    assert "no Examples section with a >>> line" in lacks
    assert missing(_returns_nothing) == []
    assert missing(vars(_Override)["value"], _Override) == []
    assert missing(vars(_Base)["size"], _Base) == ["no docstring"]
    assert source_file(backprop.train) == "training/loop.py"
