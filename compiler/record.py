"""``@record``: the classes ``@dataclass`` writes, for the modules on ``pipespec validate``'s path
and on a cached ``pipespec run``'s,
without importing ``dataclasses`` (it imports ``inspect``, ``ast``, ``dis`` and ``tokenize``: about
a tenth of a validate process) and without compiling six methods per class.

``record(frozen=..., slots=..., eq=...)`` accepts the subset of ``dataclass`` these modules use:
annotated fields with defaults, ``field(default=..., default_factory=..., init=, repr=, compare=,
kw_only=, metadata=)``, inheritance between records, ``__post_init__``. It gives the same ``__init__``
signature, ``__repr__``, ``__eq__`` (same class, compared fields in order), ``__hash__`` (frozen:
the hash of the compared fields; not frozen: unhashable), ``__match_args__``, frozen assignment
errors, ``__slots__`` and pickling. Only ``__init__`` is compiled (one small function per class);
the other methods are shared closures.

``dataclasses.is_dataclass``/``fields``/``replace`` keep working on records: the first time
anything asks a record class for ``__dataclass_fields__`` (the IR's JSON walk, tests), the table
is built with real ``dataclasses.Field`` objects. ``tests/frontend/test_record.py`` checks that a
record behaves as the same ``@dataclass`` does.
"""

from __future__ import annotations

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assigning to a field of a frozen record (``dataclasses.FrozenInstanceError``'s role)."""


class Field:
    __slots__ = ("name", "default", "default_factory", "init", "repr", "compare", "kw_only", "metadata", "type")

    def __init__(self, default=_MISSING, default_factory=_MISSING, init=True, repr=True, compare=True,
                 kw_only=False, metadata=None):
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.init, self.repr, self.compare, self.kw_only = init, repr, compare, kw_only
        self.metadata = metadata or {}
        self.type = None


def field(*, default=_MISSING, default_factory=_MISSING, init=True, repr=True, compare=True, kw_only=False,
          metadata=None):
    return Field(default, default_factory, init, repr, compare, kw_only, metadata)


def is_record(obj) -> bool:
    """Whether ``obj`` is a record class or instance (``dataclasses.is_dataclass``)."""
    return hasattr(obj if isinstance(obj, type) else type(obj), "__record_fields__")


class _RecordMeta(type):
    def __getattr__(cls, name):
        # dataclasses' own view of a record, built on first ask (is_dataclass, fields, replace)
        if name == "__dataclass_fields__" and "__record_fields__" in cls.__dict__:
            table = _dataclass_fields(cls)
            type.__setattr__(cls, "__dataclass_fields__", table)
            return table
        raise AttributeError(name)


def _dataclass_fields(cls) -> dict:
    import dataclasses

    table = {}
    for f in cls.__record_fields__:
        kw = {"default": f.default} if f.default is not _MISSING else {}
        if f.default_factory is not _MISSING:
            kw = {"default_factory": f.default_factory}
        df = dataclasses.field(init=f.init, repr=f.repr, compare=f.compare, kw_only=f.kw_only,
                               metadata=f.metadata or None, **kw)
        df.name, df.type = f.name, f.type
        df._field_type = dataclasses._FIELD
        table[f.name] = df
    return table


def fields(obj) -> tuple:
    return type(obj).__record_fields__ if not isinstance(obj, type) else obj.__record_fields__


def replace(obj, **changes):
    """A copy of ``obj`` with ``changes`` (``dataclasses.replace``)."""
    for f in fields(obj):
        if f.init and f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return type(obj)(**changes)


def record(cls=None, *, frozen: bool = False, slots: bool = False, eq: bool = True):
    def wrap(c):
        return _make(c, frozen, slots, eq)
    return wrap if cls is None else wrap(cls)


def _make(cls, frozen: bool, slots: bool, eq: bool):
    own = []
    annotations = cls.__dict__.get("__annotations__", {})
    for name, typ in annotations.items():
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name, f.type = name, typ
        own.append(f)
    inherited = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            inherited[f.name] = f
    merged = dict(inherited)
    for f in own:
        merged[f.name] = f
    all_fields = tuple(merged.values())

    ns = dict(cls.__dict__)
    for f in own:
        ns.pop(f.name, None)
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    if slots:
        ns["__slots__"] = tuple(f.name for f in own)
    else:
        for f in own:
            if f.default is not _MISSING:
                ns[f.name] = f.default
    ns["__record_fields__"] = all_fields
    ns["__match_args__"] = tuple(f.name for f in all_fields if f.init and not f.kw_only)
    compared = tuple(f.name for f in all_fields if f.compare)
    shown = tuple(f.name for f in all_fields if f.repr)
    ns["__init__"] = _init(cls.__qualname__, all_fields, frozen, "__post_init__" in ns or any(
        hasattr(b, "__post_init__") for b in cls.__mro__[1:]))
    ns["__repr__"] = _repr(cls.__qualname__, shown)
    if eq:
        ns["__eq__"] = _eq(compared)
    if frozen:
        if eq:
            ns["__hash__"] = _hash(compared)
        names = frozenset(f.name for f in all_fields)
        ns["__setattr__"], ns["__delattr__"] = _frozen(names)
    elif eq and "__hash__" not in cls.__dict__:
        ns["__hash__"] = None
    if slots:
        every = tuple(f.name for f in all_fields)
        ns["__getstate__"] = lambda self: [getattr(self, n) for n in every]

        def __setstate__(self, state):
            for n, v in zip(every, state):
                object.__setattr__(self, n, v)
        ns["__setstate__"] = __setstate__
    bases = cls.__bases__
    meta = type(cls) if isinstance(type(cls), _RecordMeta) else _RecordMeta
    if type(cls) not in (type, _RecordMeta):
        raise TypeError(f"@record: {cls.__qualname__} has metaclass {type(cls).__name__}")
    new = meta(cls.__name__, bases, ns)
    new.__qualname__ = cls.__qualname__
    return new


def _init(qualname: str, all_fields, frozen: bool, post: bool):
    args, kwonly, body = [], [], []
    env = {"__MISSING": _MISSING, "__setattr": object.__setattr__}
    for f in all_fields:
        target = f"__setattr(self, {f.name!r}, {{}})" if frozen else f"self.{f.name} = {{}}"
        if f.init:
            text = f.name
            if f.default is not _MISSING:
                env[f"__d_{f.name}"] = f.default
                text += f"=__d_{f.name}"
                value = f.name
            elif f.default_factory is not _MISSING:
                env[f"__f_{f.name}"] = f.default_factory
                text += "=__MISSING"
                value = f"__f_{f.name}() if {f.name} is __MISSING else {f.name}"
            else:
                value = f.name
            (kwonly if f.kw_only else args).append(text)
        elif f.default_factory is not _MISSING:
            env[f"__f_{f.name}"] = f.default_factory
            value = f"__f_{f.name}()"
        elif f.default is not _MISSING:
            env[f"__d_{f.name}"] = f.default
            value = f"__d_{f.name}"
        else:
            continue
        body.append("    " + target.format(value))
    if post:
        body.append("    self.__post_init__()")
    sig = ", ".join(["self", *args, *(["*", *kwonly] if kwonly else [])])
    src = f"def __init__({sig}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(src, env)   # noqa: S102 - our own field names, not input
    fn = env["__init__"]
    fn.__qualname__ = f"{qualname}.__init__"
    return fn


def _repr(qualname: str, shown: tuple):
    def __repr__(self):
        return f"{qualname}(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in shown) + ")"
    return __repr__


def _eq(compared: tuple):
    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)
        return NotImplemented
    return __eq__


def _hash(compared: tuple):
    def __hash__(self):
        return hash(tuple(getattr(self, n) for n in compared))
    return __hash__


def _frozen(names: frozenset):
    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")
    return __setattr__, __delattr__


def named_tuple(cls):
    """``class X(NamedTuple)`` without ``typing``, as a decorator on a plain class: the same
    ``collections.namedtuple`` with the class's annotated fields, their defaults and its methods
    (what ``typing.NamedTuple`` builds). typing's own compiles every string annotation into a
    ``ForwardRef`` and importing typing is itself ~4 ms of a validate."""
    from collections import namedtuple

    ann = dict(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[n] for n in ann if n in cls.__dict__]
    if any(n not in cls.__dict__ for n in list(ann)[len(ann) - len(defaults):]):
        raise TypeError(f"{cls.__qualname__}: a field without a default follows one with a default")
    nt = namedtuple(cls.__name__, ann, defaults=defaults, module=cls.__module__)
    nt.__annotations__ = ann
    for key, value in cls.__dict__.items():
        if key in ann or key in ("__module__", "__annotations__", "__dict__", "__weakref__", "__qualname__"):
            continue
        setattr(nt, key, value)
    nt.__qualname__ = cls.__qualname__
    return nt
