"""The "no hook at all" baseline: the sync layer's and the queues' own code with every
sync-hook test cut out.

Only the refasync.sync package tests whether a hook is installed (``hooks.installed``):
its locks and conditions, at every synchronization point they report, and ``Lock.held``,
which is the raw lock itself while no hook is installed. To price what is left we need the
*same* code without those tests, kept in step with src/ automatically: this module reads the
source of refasync.sync.locks, refasync.sync.condition and refasync.queues, removes the
hook tests from every class with an AST rewrite, and executes the three, in that order, in
one private module (an import of a name that an earlier one of them defines is dropped, so
the queues bind to the stripped classes; the other names, such as the ``hooks`` and
``registry`` modules and the clock, stay the library's).

The rewrite treats the hook as permanently None:

* ``hooks.installed`` is read as the global ``_hook``, which is None in the copy;
* ``hook = _hook`` (any local bound to the global) is dropped;
* ``hook is not None`` / ``_hook is not None`` become False, ``... is None`` True;
  ``and`` / ``or`` / ``not`` over those constants are folded;
* ``if False: A else: B`` becomes ``B`` and ``if True: A else: B`` becomes ``A``;
* ``try: A finally: <only hook reports>`` becomes ``A``.

If any reference to the hook survives (a pattern the rewrite does not know), building the
baseline fails loudly instead of measuring something else.
"""

from __future__ import annotations

import ast
import inspect
import types
from dataclasses import dataclass
from typing import Any, cast

from refasync import queues
from refasync.channel import Channel
from refasync.queues import ItemQueue
from refasync.sync import condition, locks

__all__ = ("BaselineUnavailable", "NoHookBaseline", "build_nohook_baseline")

HOOK_GLOBAL = "_hook"
HOOK_MODULE = "hooks"  # refasync.sync.hooks, imported as ``hooks`` by the sync layer
HOOK_ATTRIBUTE = "installed"
MERGED = (locks, condition, queues)  # in the order they are executed


class _HookReads(ast.NodeTransformer):
    """``hooks.installed`` becomes the global ``_hook``."""

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if (
            isinstance(node.value, ast.Name)
            and node.value.id == HOOK_MODULE
            and node.attr == HOOK_ATTRIBUTE
        ):
            return ast.copy_location(ast.Name(HOOK_GLOBAL, ast.Load()), node)
        return node


def _drop_merged_imports(tree: ast.Module, defined: set[str]) -> None:
    # ``from refasync.sync... import X``: X is dropped when an earlier merged module
    # defines it (the copy's own, stripped X is meant); every other name stays imported.
    body: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("refasync"):
            stmt.names = [
                alias for alias in stmt.names if (alias.asname or alias.name) not in defined
            ]
            if not stmt.names:
                continue
        body.append(stmt)
    tree.body = body


def _defined_names(tree: ast.Module) -> set[str]:
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }


class BaselineUnavailable(RuntimeError):
    """The hook tests could not be removed completely."""


class _HookStripper(ast.NodeTransformer):
    """Rewrites one function body with the hook known to be None."""

    def __init__(self) -> None:
        self.hook_names: set[str] = {HOOK_GLOBAL}
        self.removed_tests = 0

    # -- statements --

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        # ``hook = _hook``: remember the local, drop the statement.
        if isinstance(node.value, ast.Name) and node.value.id in self.hook_names:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.hook_names.add(target.id)
            return None
        return self.generic_visit(node)

    def visit_If(self, node: ast.If) -> ast.AST | list[ast.stmt] | None:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant) and isinstance(node.test.value, bool):
            self.removed_tests += 1
            return list(node.body if node.test.value else node.orelse) or None
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST | list[ast.stmt]:
        # ``try: A finally: <hook report>`` whose finally became empty is just ``A``.
        self.generic_visit(node)
        if not node.finalbody and not node.handlers and not node.orelse:
            return list(node.body)
        return node

    # -- expressions --

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if (
            len(node.ops) == 1
            and isinstance(node.left, ast.Name)
            and node.left.id in self.hook_names
            and isinstance(node.comparators[0], ast.Constant)
            and node.comparators[0].value is None
        ):
            if isinstance(node.ops[0], ast.IsNot):
                return ast.copy_location(ast.Constant(False), node)
            if isinstance(node.ops[0], ast.Is):
                return ast.copy_location(ast.Constant(True), node)
        return node

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        # ``raw if _hook is None else reported``: the branch the hook's absence takes.
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant) and isinstance(node.test.value, bool):
            self.removed_tests += 1
            return node.body if node.test.value else node.orelse
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        constants = [v.value for v in node.values if isinstance(v, ast.Constant)]
        if isinstance(node.op, ast.And) and False in constants:
            return ast.copy_location(ast.Constant(False), node)
        if isinstance(node.op, ast.Or) and True in constants:
            return ast.copy_location(ast.Constant(True), node)
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and isinstance(node.operand, ast.Constant):
            return ast.copy_location(ast.Constant(not node.operand.value), node)
        return node


def _fill_empty_bodies(tree: ast.AST) -> None:
    # Removing statements may leave a block empty; Python needs at least ``pass``.
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and not body:
            body.append(ast.Pass())
        if isinstance(node, ast.Try) and not node.finalbody and not node.handlers:
            node.finalbody.append(ast.Pass())


def _strip_class(cls_node: ast.ClassDef) -> int:
    removed = 0
    for index, stmt in enumerate(cls_node.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stripper = _HookStripper()
            cls_node.body[index] = cast(ast.stmt, stripper.visit(stmt))
            removed += stripper.removed_tests
            leftovers = [
                n.id
                for n in ast.walk(cls_node.body[index])
                if isinstance(n, ast.Name) and n.id in stripper.hook_names
            ]
            if leftovers:
                raise BaselineUnavailable(
                    f"{cls_node.name}.{stmt.name}: hook reference(s) {leftovers} survive the "
                    "rewrite; teach benchmarks/nohook.py the new pattern"
                )
    return removed


@dataclass(frozen=True)
class NoHookBaseline:
    """The stripped module and a channel class whose queue is its ``AsyncQueue``."""

    module: types.ModuleType
    channel_cls: type[Channel[int]]
    removed_tests: int  # hook tests removed (a sanity figure for the report)
    source: str  # the rewritten module, for inspection (``--show-nohook``)


def _stripped(source_module: types.ModuleType, defined: set[str]) -> tuple[ast.Module, int]:
    tree = cast(ast.Module, _HookReads().visit(ast.parse(inspect.getsource(source_module))))
    _drop_merged_imports(tree, defined)
    removed = sum(_strip_class(node) for node in tree.body if isinstance(node, ast.ClassDef))
    leftovers = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == HOOK_GLOBAL]
    if leftovers:
        raise BaselineUnavailable(
            f"{source_module.__name__} reads the hook outside a class method the rewrite "
            "knows; teach benchmarks/nohook.py the new pattern"
        )
    _fill_empty_bodies(tree)
    ast.fix_missing_locations(tree)
    return tree, removed


def build_nohook_baseline() -> NoHookBaseline:
    """:return: the sync layer's locks and condition and refasync.queues rebuilt without
    hook tests, in one
    module, and a Channel using its queue.

    :raise BaselineUnavailable: if a hook reference could not be removed.
    """
    module = types.ModuleType("benchmarks._nohook_util")
    module.__package__ = "refasync"
    module.__dict__[HOOK_GLOBAL] = None
    removed = 0
    sources = []
    defined: set[str] = set()
    for source_module in MERGED:
        tree, count = _stripped(source_module, defined)
        removed += count
        defined |= _defined_names(tree)
        sources.append(ast.unparse(tree))
        exec(
            compile(tree, source_module.__file__ or f"<{source_module.__name__}>", "exec"),
            module.__dict__,
        )
    if removed == 0:
        raise BaselineUnavailable("no hook test found in refasync.sync's classes")
    # Any: the library types Channel.QueueCls as type[ItemQueue[Any]]; the rewritten
    # AsyncQueue is duck-type identical to refasync.util.AsyncQueue.
    queue_cls = cast("type[ItemQueue[Any]]", module.__dict__["AsyncQueue"])

    class NoHookChannel(Channel[int]):
        """A Channel whose queue is the hook-free AsyncQueue."""

        __slots__ = ()
        QueueCls = queue_cls

    return NoHookBaseline(module, NoHookChannel, removed, "\n\n".join(sources))
