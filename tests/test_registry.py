"""The one registry behind every named family: lookup, aliases, order and the one error format."""
import pytest
from hypothesis import given, strategies as st

from backprop.errors import ConfigError, FileFormatError
from backprop.registry import Registry


def test_lookup_by_name_and_alias_in_registration_order():
    reg = Registry("shape")
    reg.register("square", 4, aliases=("quad",))

    @reg.register("triangle")
    class Triangle:
        pass

    assert reg.get("square") == 4 and reg.get("quad") == 4 and reg.get("triangle") is Triangle
    assert reg.names() == ("square", "triangle") and list(reg) == ["square", "triangle"]
    assert reg.canonical("quad") == "square" and "quad" in reg and "circle" not in reg
    assert reg.aliases() == {"quad": "square"} and len(reg) == 2


def test_unknown_names_are_refused_naming_the_known_ones():
    reg = Registry("shape")
    reg.register("square", 4)
    with pytest.raises(ConfigError, match=r"^unknown shape 'circle'; known: square$"):
        reg.get("circle")
    with pytest.raises(ConfigError, match=r"^unknown shape of type int; known: square$"):
        reg.get(3)
    with pytest.raises(FileFormatError, match="unknown shape 'circle'"):
        reg.get("circle", error=FileFormatError)


def test_a_name_is_registered_once():
    reg = Registry("shape")
    reg.register("square", 4, aliases=("quad",))
    for name, aliases in (("square", ()), ("quad", ()), ("cube", ("square",))):
        with pytest.raises(ConfigError, match="already registered"):
            reg.register(name, 5, aliases=aliases)
    with pytest.raises(ConfigError, match="non-empty string"):
        reg.register("", 5)
    assert reg.names() == ("square",) and reg.get("quad") == 4


@given(st.lists(st.text(min_size=1, max_size=8), unique=True, min_size=1, max_size=12), st.text(max_size=8))
def test_every_registered_name_resolves_and_any_other_is_refused(names, other):
    reg = Registry("thing")
    for k, name in enumerate(names):
        reg.register(name, k)
    assert [reg.get(n) for n in names] == list(range(len(names)))
    if other not in names:
        with pytest.raises(ConfigError, match="unknown thing"):
            reg.get(other)
