"""Loops that train nothing the project claims: throughput benchmarks and modules' self-tests on random tensors."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from trainaudit.evidence.flow import Kind, last_name
from trainaudit.evidence.index import FunctionInfo, main_guard_lines, scope_body, scope_statements, walk_scope
from trainaudit.evidence.source import SourceFile

if TYPE_CHECKING:
    from trainaudit.evidence.training import TrainingPath, TrainLoop

# A throughput benchmark runs whole training steps on random tensors to time them (`benchmark.py`,
# `speed_test.py`, `def profile_step()`): the words of its name, split at `_` and case changes.
_SPEED_WORDS = frozenset({"bench", "benchmark", "benchmarks", "speed", "throughput", "profile", "profiling",
                          "profiler", "latency", "timing", "timings", "perf"})
_CLOCKS = frozenset({"time.time", "time.time_ns", "time.perf_counter", "time.perf_counter_ns", "time.monotonic",
                     "time.monotonic_ns", "time.process_time", "timeit.default_timer", "timeit.timeit",
                     "torch.cuda.Event", "torch.utils.benchmark.Timer", "torch.profiler.profile",
                     "torch.autograd.profiler.profile"})


def _name_words(name: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)}


# Calls that save weights (a trained model), by their last name; `json.dump` or `plt.savefig` save results.
_WEIGHT_SAVES = frozenset({"save", "save_pretrained", "save_checkpoint", "save_model", "save_weights", "save_file",
                           "save_state_dict"})
_WEIGHT_SAVE_MODULES = ("torch.", "safetensors.", "pickle.", "joblib.", "dill.")


def _saves(sf: SourceFile, calls: list[ast.AST]) -> bool:
    """Whether any of these calls may save weights: `torch.save`, safetensors' `save_file`, `pickle.dump`, a
    model's `save_pretrained`/`save_checkpoint`. Not results (`json.dump`, `np.save`, `plt.savefig`)."""
    for c in calls:
        func = c.func  # type: ignore[attr-defined]
        dotted = sf.resolve(func) if isinstance(func, (ast.Name, ast.Attribute)) else None
        last = (dotted or "").rpartition(".")[2]
        if dotted and dotted.startswith(_WEIGHT_SAVE_MODULES) and last in (*_WEIGHT_SAVES, "dump"):
            return True
        if isinstance(func, ast.Attribute) and func.attr in _WEIGHT_SAVES - {"save"} and not (
                dotted or "").startswith(("numpy.", "json.", "yaml.")):
            return True
    return False


def benchmarks(path: TrainingPath) -> list[TrainLoop]:
    """The throughput benchmarks to leave out of the training path: loops fed only random or constant tensors, in
    a function or file named for measuring speed, whose scope reads a clock and saves no weights, when the models
    they time are trained by a kept loop in another scope, or may be (see _trained_elsewhere). A benchmark of
    models nothing else trains is judged as their training."""
    found = []
    for lp in path.loops:
        sf, fn = lp.file, lp.scope
        named = _name_words(fn.name) if fn is not None else set()
        if _SPEED_WORDS.isdisjoint(named | _name_words(sf.path.rpartition("/")[2])):
            continue
        kinds = {o.kind for _, p in path.feeds(lp) for o in p}
        if Kind.DATA in kinds or not kinds & {Kind.RANDOM, Kind.CONST}:
            continue
        calls = [n for n in walk_scope(scope_body(sf, fn)) if isinstance(n, ast.Call)]
        if any(sf.resolve(c.func) in _CLOCKS for c in calls) and not _saves(sf, calls):
            found.append(lp)
    kept = [lp for lp in path.loops if not any(lp is f for f in found)]
    return [lp for lp in found if _trained_elsewhere(path, lp, kept)]


def self_tests(path: TrainingPath) -> list[TrainLoop]:
    """The modules' self-tests to leave out of the training path: training under the `if __name__ == "__main__":`
    block of a module (or in a function called only from there) that saves no weights, when a file that imports
    the module trains the same models, or may (see _trained_elsewhere), in training that is not itself such a
    block of an imported module: a model file's smoke test overfitting one random batch while train.py trains the
    model on data. Running the module as a script is not how the project trains."""
    guards: dict[int, list[tuple[int, int]]] = {}
    guarded = []
    for lp in path.loops:
        sf = lp.file
        if id(sf) not in guards:
            guards[id(sf)] = main_guard_lines(sf) if "__main__" in sf.text else []
        if guards[id(sf)] and _runs_as_script(path, lp.scope, lp.line, sf, guards[id(sf)]):
            guarded.append(lp)
    imported = [lp for lp in guarded if any(other.file.imports(lp.file.module) for other in path.loops
                                            if other.file is not lp.file)]
    if not imported:
        return []
    kept = [lp for lp in path.loops if not any(lp is c for c in imported)]
    dropped = []
    for lp in imported:
        if _saves(lp.file, [n for n in _script_nodes(path, lp, guards[id(lp.file)]) if isinstance(n, ast.Call)]):
            continue  # a pretraining script whose weights the importer loads
        importers = [k for k in kept if k.file.imports(lp.file.module)]
        if _trained_elsewhere(path, lp, importers):
            dropped.append(lp)
    return dropped


def _script_nodes(path: TrainingPath, loop: TrainLoop, guards: list[tuple[int, int]]) -> list[ast.AST]:
    """The nodes of the code that runs a loop as a script: its function, or the `__main__` blocks."""
    if loop.scope is not None:
        return walk_scope(loop.scope.node.body)
    return [n for s in scope_body(loop.file, None) if any(a <= s.lineno <= b for a, b in guards)
            for n in walk_scope([s])]


def _trained_elsewhere(path: TrainingPath, loop: TrainLoop, others: list[TrainLoop]) -> bool:
    """Whether every model a loop trains is trained by one of `others` that runs, in another scope, itself or as a
    part of what that one trains (`LitModel` holding `self.net = Net()`), or may be: one of them trains models
    that cannot be told."""
    models = _models_trained(path, loop)
    if not models:
        return False
    elsewhere: set[str] = set()
    for other in others:
        if other.file is loop.file and other.scope is loop.scope or not _runs(path, other):
            continue  # the loop itself, or code nothing runs
        trained = _models_trained(path, other)
        if not trained:
            return True  # training whose models cannot be told: it may train these
        elsewhere |= trained
    for name in list(elsewhere):
        cls = path.index.classes.get(name)
        if cls is not None:
            elsewhere |= {m for mods in path.flow.submodules(cls).values() for m in mods}
    return models <= elsewhere


def _models_trained(path: TrainingPath, loop: TrainLoop) -> set[str]:
    """The models a loop trains: those of the optimizers it steps, the module a framework fits, a training
    step's own module."""
    if loop.kind == "step-method" and loop.scope is not None and loop.scope.cls is not None:
        return {loop.scope.cls.qualname}
    if loop.kind == "fit":
        return path.fitted(loop) or _models_built_with(path, loop)
    steps = {id(c) for c in loop.steps}
    found = {m for o in path.optimizers if any(id(c) in steps for c in o.steps) for m in o.modules}
    return found or _models_built_with(path, loop)


def _models_built_with(path: TrainingPath, loop: TrainLoop) -> set[str]:
    """The modules handed to whatever built what a loop steps or fits, where that is not a `torch.optim` class:
    `opt = make_optimizer(head, 0.1)` then `opt.step()`, `trainer = Trainer(model=net, ...)` then
    `trainer.train()`."""
    from trainaudit.evidence.training import step_receiver_name  # training imports this module

    receivers = {step_receiver_name(c) for c in loop.steps} - {None}
    if loop.kind == "fit" and isinstance(loop.node, ast.Call) and isinstance(loop.node.func, ast.Attribute):
        receivers.add(last_name(loop.node.func.value))
    if not receivers:
        return set()
    flow, sf, fn = path.flow, loop.file, loop.scope
    env = flow.env(sf, fn)
    out: set[str] = set()
    for stmt in scope_statements(scope_body(sf, fn)):
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and any(
                last_name(t) in receivers for t in stmt.targets):
            args = [*stmt.value.args, *(k.value for k in stmt.value.keywords)]
            out |= {o.what for a in args for o in flow.concrete(flow.eval(a, sf, fn, env))
                    if o.kind is Kind.INSTANCE and flow.is_module_class(o.what)}
    return out


def _runs(path: TrainingPath, loop: TrainLoop) -> bool:
    """Whether a loop's code runs at all: at module level, in a method (a framework or its class calls it), or in
    a function something calls, registers (a decorator: `@click.command()`) or hands on by name (`Fire(main)`).
    A function nothing names trains nothing."""
    fn = loop.scope
    if fn is None or fn.cls is not None or fn.node.decorator_list or path.index.call_sites.get(fn.qualname, []):
        return True
    return any(n.id == fn.name for n in loop.file.nodes_of(ast.Name))  # a reference, not only its def


def _runs_as_script(path: TrainingPath, fn: FunctionInfo | None, line: int, sf: SourceFile,
                    guards: list[tuple[int, int]]) -> bool:
    """Whether code at `line` of scope `fn` runs only when its file runs as a script: in a `__main__` block, or
    in a function called only from one."""
    if fn is None:
        return any(a <= line <= b for a, b in guards)
    sites = path.index.call_sites.get(fn.qualname, [])
    return bool(sites) and all(c.file is sf and c.caller is None and any(a <= c.node.lineno <= b for a, b in guards)
                               for c in sites)
