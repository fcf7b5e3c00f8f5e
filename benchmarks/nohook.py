"""The "no hook at all" baseline: the sync layer's and the queues' own code with every
sync-hook test cut out.

Only refasync.sync tests whether a hook is installed (the global ``_hook``): its locks
and conditions, at every synchronization point they report, and ``Lock.held``, which is
the raw lock itself while no hook is installed. To price what is left we need the *same*
code without those tests, kept in step with src/ automatically: this module reads the
source of refasync.sync and then refasync.queues, removes the hook tests from every class
with an AST rewrite, and executes both, in that order, in one private module (the
queues' imports of the sync layer are dropped, so they bind to the stripped classes; the
sync layer's fork handlers are not registered a second time).

The rewrite treats the hook as permanently None:

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

from refasync import queues, sync
from refasync.channel import Channel
from refasync.queues import ItemQueue

__all__ = ("BaselineUnavailable", "NoHookBaseline", "build_nohook_baseline")

HOOK_GLOBAL = "_hook"
SYNC_MODULE_ALIAS = "_sync"  # refasync.queues: ``from refasync import sync as _sync``


def _drop_sync_imports(tree: ast.Module) -> None:
    # ``from refasync import sync as _sync``, ``from refasync.sync import ...`` and the
    # statements using ``_sync``: in the merged module those names are the stripped sync
    # layer's own, and the hook is the global ``_hook``, None.
    def imports_sync(stmt: ast.stmt) -> bool:
        if isinstance(stmt, ast.ImportFrom):
            if stmt.module in ("refasync.sync", "sync") or (
                stmt.module in ("refasync", None)
                and any(alias.name == "sync" for alias in stmt.names)
            ):
                return True
        return False

    def uses_sync_module(stmt: ast.stmt) -> bool:  # ``_sync.something(...)``
        return any(isinstance(n, ast.Name) and n.id == SYNC_MODULE_ALIAS for n in ast.walk(stmt))

    def registers_fork_handlers(stmt: ast.stmt) -> bool:  # the copy must not
        return any(isinstance(n, ast.Attribute) and n.attr == "register_at_fork"
                   for n in ast.walk(stmt))

    tree.body = [s for s in tree.body if not imports_sync(s) and not uses_sync_module(s)
                 and not registers_fork_handlers(s)]


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


def _stripped(source_module: types.ModuleType) -> tuple[ast.Module, int]:
    tree = ast.parse(inspect.getsource(source_module))
    _drop_sync_imports(tree)
    removed = sum(_strip_class(node) for node in tree.body if isinstance(node, ast.ClassDef))
    leftovers = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == SYNC_MODULE_ALIAS]
    if leftovers:
        raise BaselineUnavailable(f"{source_module.__name__} still uses {SYNC_MODULE_ALIAS}.*")
    _fill_empty_bodies(tree)
    ast.fix_missing_locations(tree)
    return tree, removed


def build_nohook_baseline() -> NoHookBaseline:
    """:return: refasync.sync and refasync.queues rebuilt without hook tests, in one
    module, and a Channel using its queue.

    :raise BaselineUnavailable: if a hook reference could not be removed.
    """
    module = types.ModuleType("benchmarks._nohook_util")
    module.__package__ = "refasync"
    removed = 0
    sources = []
    for source_module in (sync, queues):
        tree, count = _stripped(source_module)
        removed += count
        sources.append(ast.unparse(tree))
        if source_module is sync and count == 0:
            raise BaselineUnavailable("no hook test found in refasync.sync's classes")
        exec(compile(tree, source_module.__file__ or f"<{source_module.__name__}>", "exec"),
             module.__dict__)
    # Any: the library types Channel.QueueCls as type[ItemQueue[Any]]; the rewritten
    # AsyncQueue is duck-type identical to refasync.util.AsyncQueue.
    queue_cls = cast("type[ItemQueue[Any]]", module.__dict__["AsyncQueue"])

    class NoHookChannel(Channel[int]):
        """A Channel whose queue is the hook-free AsyncQueue."""

        __slots__ = ()
        QueueCls = queue_cls

    return NoHookBaseline(module, NoHookChannel, removed, "\n\n".join(sources))
