"""``pipespec.record`` writes the classes ``@dataclass`` writes (the validate path's nodes, spans
and diagnostics use it so that ``validate`` never imports dataclasses): the same class, declared
both ways, behaves the same -- construction, defaults, repr, equality, hashing, frozenness,
pickling, ``__match_args__`` -- and ``dataclasses`` sees a record as a dataclass."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

from pipespec import record as R
from pipespec.expr import ast
from pipespec.span import Span


def _pair(frozen: bool, slots: bool):
    """A base with keyword-only uncompared fields and a child with a factory, an init=False
    field and __post_init__, declared once with dataclasses and once with record."""
    out = []
    for deco, fld in ((dataclasses.dataclass, dataclasses.field), (R.record, R.field)):
        @deco(frozen=frozen, slots=slots)
        class Base:
            start: int = fld(default=0, compare=False, kw_only=True)

        @deco(frozen=frozen, slots=slots)
        class Child(Base):
            name: str
            items: tuple = ()
            extra: list = fld(default_factory=list, compare=False, repr=False)
            kind: str = fld(init=False, repr=False, default="")

            def __post_init__(self) -> None:
                object.__setattr__(self, "kind", type(self.name).__name__)
        out.append(Child)
    return out


@pytest.mark.parametrize("frozen,slots", [(True, True), (True, False), (False, False), (False, True)])
def test_a_record_behaves_as_the_dataclass(frozen, slots):
    D, Rc = _pair(frozen, slots)
    for args, kw in [(("a",), {}), (("a", (1, 2)), {"start": 3}), ((), {"name": "b", "extra": [1]})]:
        d, r = D(*args, **kw), Rc(*args, **kw)
        assert repr(d).replace("test_a_record_behaves_as_the_dataclass.<locals>.", "") == \
            repr(r).replace("test_a_record_behaves_as_the_dataclass.<locals>.", "")
        assert (d.name, d.items, d.extra, d.kind, d.start) == (r.name, r.items, r.extra, r.kind, r.start)
        assert r == Rc(*args, **kw) and r != D(*args, **kw)
        assert (r == Rc("other")) == (d == D("other"))
        assert Rc.__match_args__ == D.__match_args__
        if frozen:
            assert hash(r) == hash(Rc(*args, **kw))
            with pytest.raises(AttributeError):
                r.name = "x"
        else:
            assert Rc.__hash__ is None and D.__hash__ is None
            r.name = "x"
            assert r.name == "x"
        assert hasattr(r, "__dict__") == hasattr(d, "__dict__")
    with pytest.raises(TypeError):
        Rc()                 # name is required
    with pytest.raises(TypeError):
        Rc("a", (), [], "k")  # kind is not an init argument, start is keyword-only


def test_dataclasses_sees_records():
    assert dataclasses.is_dataclass(Span) and dataclasses.is_dataclass(ast.Literal(1))
    names = [(f.name, f.compare, f.init) for f in dataclasses.fields(ast.Literal(1))]
    assert names == [("start", False, True), ("end", False, True), ("value", True, True), ("_kind", True, False)]
    s = Span("f", 1, 2, 3, 4)
    assert dataclasses.replace(s, line=9) == Span("f", 9, 2, 3, 4) == R.replace(s, line=9)


def test_records_pickle():
    node = ast.Binary("+", ast.Ref("a", start=0, end=1), ast.Literal(1.0, start=4, end=7), start=0, end=7)
    back = pickle.loads(pickle.dumps(node))
    assert back == node and (back.start, back.end, back.right.start) == (0, 7, 4) and back.right._kind == "float"


def test_validate_never_imports_dataclasses(tmp_path):
    code = ("import sys; from pipespec.cli import main; rc = main(['validate', '-q', sys.argv[1]]); "
            "assert rc == 0, rc; heavy = {'dataclasses', 'inspect', 'lark', 'jsonschema', 'jinja2', 'difflib', 'importlib.resources'} & set(sys.modules); "
            "assert not heavy, heavy")
    from support import ROOT

    subprocess.run([sys.executable, "-c", code, str(ROOT / "specs" / "churn" / "pipeline.yaml")], check=True,
                   timeout=120)


# -- named_tuple: typing.NamedTuple's class syntax without typing ---------------------------

import pickle as _pickle
from typing import NamedTuple as _NamedTuple

from pipespec.record import named_tuple as _named_tuple


class _TypedPoint(_NamedTuple):
    x: int
    y: list[int] | None = None
    label: str = "p"

    def norm(self) -> int:
        return abs(self.x)

    @property
    def twice(self) -> int:
        return 2 * self.x


@_named_tuple
class _OurPoint:
    x: int
    y: list[int] | None = None
    label: str = "p"

    def norm(self) -> int:
        return abs(self.x)

    @property
    def twice(self) -> int:
        return 2 * self.x


def test_named_tuple_is_what_typing_namedtuple_builds():
    a, b = _TypedPoint(-3, [1]), _OurPoint(-3, [1])
    assert _OurPoint._fields == _TypedPoint._fields
    assert _OurPoint._field_defaults == _TypedPoint._field_defaults
    assert _OurPoint.__match_args__ == _TypedPoint.__match_args__
    assert tuple(a) == tuple(b) and a == b                     # both are tuples
    assert repr(b) == repr(a).replace("_TypedPoint", "_OurPoint")
    assert (b.norm(), b.twice, b.label) == (a.norm(), a.twice, a.label)
    assert b._replace(x=4) == (4, [1], "p") and isinstance(b._replace(x=4), _OurPoint)
    assert _pickle.loads(_pickle.dumps(b)) == b and type(_pickle.loads(_pickle.dumps(b))) is _OurPoint
    assert _OurPoint.__qualname__ == "_OurPoint" and _OurPoint.__module__ == __name__
    assert _OurPoint.__annotations__ == {"x": "int", "y": "list[int] | None", "label": "str"}
    assert not hasattr(b, "__dict__")
    with pytest.raises(AttributeError):
        b.x = 1
    with pytest.raises(TypeError):
        _OurPoint()                                            # x has no default


def test_named_tuple_refuses_a_field_without_default_after_one_with():
    with pytest.raises(TypeError):
        @_named_tuple
        class Bad:
            a: int = 1
            b: int
