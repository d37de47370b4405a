"""Rules about the training loop itself: is it real, complete, and does it train the whole system."""

from __future__ import annotations

import ast
import re

from trainaudit.evidence import loop_facts
from trainaudit.evidence.flow import callee_modules
from trainaudit.evidence.index import ClassInfo, FunctionInfo, main_guard_lines, subtree
from trainaudit.evidence.run_path import scope_nodes
from trainaudit.evidence.source import SourceFile
from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

PLACEHOLDER_LOOP = register(
    Rule("TA201", "placeholder-loop", "loop", Severity.ERROR,
         "A training loop that does not do forward, loss, backward and optimizer step.",
         remedy="Implement a real training loop: forward, loss on model outputs, backward, optimizer step.")
)
STUB_IMPLEMENTATION = register(
    Rule("TA202", "stub-implementation", "loop", Severity.ERROR,
         "A function or class on the training path (or named by the spec) is only a stub.",
         remedy="Implement the stubbed functions and classes on the training path before claiming training.")
)


# -- stub-implementation (TA202) ------------------------------------------------------------------------
# Stubs are judged only on the training path (Program.run_path): an unused helper that raises
# NotImplementedError costs nothing; one the run executes means the claimed training cannot be real.

# Hooks and lifecycle methods whose no-op body is a legitimate choice; they count only if they raise.
_NOOP_OK = frozenset({"__init__", "__post_init__", "__enter__", "__exit__", "__del__", "setup", "teardown",
                      "prepare_data", "reset", "reset_parameters", "close", "flush"})
_NOOP_PREFIXES = ("on_", "before_", "after_")
_NULL_OBJECTS = ("Null", "NoOp", "Noop")  # null-object classes are no-ops by design
_SKIP_DECORATORS = frozenset({"abstractmethod", "abstractproperty", "overload"})
_TODO = re.compile(r"#.*\b(TODO|FIXME|XXX)\b|not (yet )?implemented", re.IGNORECASE)
_RAISE_NI = "raise NotImplementedError"


def _raises_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    name = exc.id if isinstance(exc, ast.Name) else (exc.attr if isinstance(exc, ast.Attribute) else "")
    return name in ("NotImplementedError", "NotImplemented")


def _stub_kind(sf: SourceFile, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str | None:
    """Why a body is a stub (`raise NotImplementedError`, `pass`, `...`, docstring only, TODO), or None."""
    args = [] if isinstance(node, ast.ClassDef) else subtree(node.args)
    params = {a.arg for a in args if isinstance(a, ast.arg)}
    kinds: list[str] = []
    for s in node.body:
        if isinstance(s, ast.Pass):
            kinds.append("pass")
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis:
            kinds.append("...")
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            continue  # docstring or string comment
        elif _raises_not_implemented(s):
            kinds.append(_RAISE_NI)
        elif isinstance(s, ast.Return) and (s.value is None or isinstance(s.value, ast.Constant)
                                            or isinstance(s.value, ast.Name) and s.value.id in params):
            kinds.append("return")
        else:
            return None
    if _RAISE_NI in kinds:
        return _RAISE_NI
    if "return" in kinds:  # `return x` is a real (identity) body unless the author marked it unfinished
        lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
        return "TODO" if any(_TODO.search(sf.line_text(n)) for n in lines) else None
    return kinds[0] if kinds else "docstring only"


def _exempt(index, fi: FunctionInfo, kind: str) -> bool:
    """Abstract and overload declarations, protocols, null objects and legitimately empty hooks."""
    for d in fi.node.decorator_list:
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in _SKIP_DECORATORS:
            return True
    if fi.cls is not None:
        if any(b.rsplit(".", 1)[-1] == "Protocol" for b in index.external_bases(fi.cls)):
            return True
        if kind != _RAISE_NI and (fi.cls.name.startswith(_NULL_OBJECTS) or any(
                fi.name in sub.methods for sub in index.subclasses_of(fi.cls))):
            return True  # null objects and empty default hooks that subclasses override are no-ops by design
    return kind != _RAISE_NI and (fi.name in _NOOP_OK or fi.name.startswith(_NOOP_PREFIXES))


def _stub_class(index, ci: ClassInfo, spec_named: bool) -> str | None:
    """A class whose body is a stub and that inherits nothing that does its job."""
    kind = _stub_kind(ci.file, ci.node)
    if kind is None:
        return None
    if index.is_module(ci) and not (index.method(ci, "forward") or index.method(ci, "training_step")):
        return kind if all(b.endswith(("nn.Module", "LightningModule")) for b in index.external_bases(ci)) else None
    if index.is_dataset(ci) and not (index.method(ci, "__getitem__") or index.method(ci, "__iter__")):
        return kind if all(b.endswith(("data.Dataset", "IterableDataset")) for b in index.external_bases(ci)) else None
    return kind if spec_named and not ci.bases else None  # the spec's model or data is an empty class


def _short(index, key: str) -> str:
    fi = index.functions.get(key)
    if fi is not None:
        return f"{fi.cls.name}.{fi.name}" if fi.cls else fi.name
    ci = index.classes.get(key)
    return ci.name if ci is not None else key


def _path_text(index, reach, key: str) -> str:
    hops = reach.chain(key)
    parts = [hops[0].path if hops[0].name == hops[0].path else f"{_short(index, hops[0].name)} "
             f"({hops[0].path}:{hops[0].line})"] if hops else []
    parts += [f"{_short(index, h.name)} ({h.path}:{h.line})" for h in hops[1:]]
    return " → ".join(parts)


def _forward_never_called(program, fi: FunctionInfo) -> bool:
    """A module's `forward` that raises on purpose while the class is used through its other methods alone
    (a2c-ppo-acktr's Policy: `act()`, `evaluate_actions()`). The run path reaches a module's forward as soon as the
    class is built; here it was reached no other way, another method of the class was called, and no scope of the
    run path calls an instance of the class (`policy(x)`, `self(x)`, `policy.forward(x)`)."""
    cls, index, reach, flow = fi.cls, program.index, program.run_path, program.flow
    if fi.name != "forward" or cls is None or not index.is_module(cls):
        return False
    if reach.reached[fi.qualname].via not in index.classes:
        return False  # named by a call (`net.forward(x)`, `super().forward(x)`)
    if not any((hop := reach.reached.get(m.qualname)) is not None and hop.via not in index.classes
               for m in cls.methods.values() if m is not fi):
        return False  # nothing else of the class is used: its forward is what a framework would call
    holders = {c.qualname for c in index.descendants(cls) if index.method(c, "forward") is fi}
    for key in reach.reached:
        fn = index.functions.get(key)
        sf = fn.file if fn is not None else program.by_path.get(key)
        if sf is None:
            continue  # a class: its methods are keys of their own
        env = None
        for node in scope_nodes(sf, fn):
            if node.__class__ is not ast.Call:
                continue
            env = env if env is not None else flow.env(sf, fn)
            func = node.func  # type: ignore[attr-defined]
            if isinstance(func, ast.Attribute) and func.attr in ("forward", "__call__"):
                called = {o.what for o in flow.concrete(flow.eval(func.value, sf, fn, env))}
            else:
                called = set(callee_modules(flow, node, sf, fn, env, forward_only=True))  # type: ignore[arg-type]
            if called & holders:
                return False
    return True


def _only_a_library_script(program, fi: FunctionInfo) -> bool:
    """A stub called only from the `if __name__ == "__main__":` block of a module that another file of the run path
    imports (MAML-Pytorch's meta.py: `def main(): pass`, while train.py imports its Meta class): the project runs
    that module as a library, so its script block is not how training runs."""
    index, reach, sf = program.index, program.run_path, fi.file
    sites = index.call_sites.get(fi.qualname, [])
    guards = main_guard_lines(sf) if sites else []
    if not guards or not all(c.file is sf and c.caller is None and any(a <= c.node.lineno <= b for a, b in guards)
                             for c in sites):
        return False
    files = {k for k in reach.reached if k in program.by_path} | {
        f.file.path for k in reach.reached if (f := index.functions.get(k)) is not None}
    return any(program.by_path[path].imports(sf.module) for path in files - {sf.path}
               if not program.by_path[path].is_test)


@check("stub-implementation")
def _stub_implementation(ctx):
    program = ctx.source
    index, reach = program.index, program.run_path
    spec_named = {d.qualname for d in program.spec_definitions}
    for key in reach.reached:
        fi, ci = index.functions.get(key), index.classes.get(key)
        if fi is not None:
            kind = _stub_kind(fi.file, fi.node)
            if kind is None or _exempt(index, fi, kind):
                continue
            if key not in spec_named and (
                    (kind == _RAISE_NI and _forward_never_called(program, fi)) or _only_a_library_script(program, fi)):
                continue  # on the run path only on paper: the training never runs it
            what, where, line = f"{_short(index, key)}()", fi.file.path, fi.node.lineno
        elif ci is not None:
            kind = _stub_class(index, ci, key in spec_named)
            if kind is None:
                continue
            what, where, line = f"class {ci.name}", ci.file.path, ci.node.lineno
        else:
            continue
        why = "named by the spec" if key in spec_named else f"on the training path: {_path_text(index, reach, key)}"
        yield STUB_IMPLEMENTATION.finding(
            f"{what} is a stub (body: {kind}) and is {why}", where, line,
            evidence={"stub": kind, "definition": key, "spec": key in spec_named,
                      "path": [f"{h.path}:{h.line} {h.name}" for h in reach.chain(key)]})


# -- placeholder-loop (TA201) ----------------------------------------------------------------------------
# Three shapes of a loop that only pretends to train: a training-looking loop that never reaches backward +
# optimizer step (directly or through the functions it calls), an optimizer that is built and never
# stepped, and a "loss" made of loop counters (`loss = 1.0 / (epoch + 1)`). Facts: evidence/loop_facts.py.

def _placeholder_body(loop) -> str:
    """A short account of what the loop body does instead of training."""
    body = [s for s in loop.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                         and isinstance(s.value.value, str))]
    if all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                       and s.value.value is Ellipsis) for s in body):
        return "its body is only `pass`/`...`"
    return ""


@check("placeholder-loop")
def _placeholder_loop(ctx):
    program = ctx.source
    index, training = program.index, program.training
    builders = {opt.file.path for opt in training.optimizers}
    seen: dict[int, list[ast.Call]] = {}  # backward and step calls the training path found, by file
    for lp in training.loops:
        seen.setdefault(id(lp.file), []).extend(lp.backward + lp.steps)
    failing: list[tuple[loop_facts.LoopCandidate, loop_facts.Effects]] = []
    for sf in program.production:
        for cand in loop_facts.training_loop_candidates(index, sf, sf.path in builders):
            if loop_facts.trains_among(sf, cand.node, seen.get(id(sf), ())):
                continue
            eff = loop_facts.loop_effects(index, sf, cand.scope, cand.node, until_trains=True, flow=program.flow)
            if not eff.trains:
                failing.append((cand, eff))
    fakes = [(sf, fake) for sf in program.production for fake in loop_facts.file_fake_losses(program, sf)]
    faked = {(sf.path, fake.line) for sf, fake in fakes}  # a fake loss marked requires_grad is reported once, as fake
    cut = [(sf, c) for sf in program.production for c in loop_facts.file_cut_losses(program, sf)
           if (sf.path, c.line) not in faked]
    idle = [opt for opt in training.optimizers
            if not opt.file.is_test and loop_facts.optimizer_stepped(program, opt) is False]

    # Each defect is reported once, at its root: a loop that calls into another failing loop is reported
    # there; a loop holding a fake loss, at the loss; a loop with backward and an idle optimizer, at the
    # optimizer; an idle optimizer whose only loops do nothing at all, at those loops.
    homes = {(c.file.path, c.scope.qualname) for c, _ in failing if c.scope is not None}
    loops = []
    for cand, eff in failing:
        if eff.reached & (homes - {(cand.file.path, cand.scope.qualname if cand.scope else "")}):
            continue
        end = getattr(cand.node, "end_lineno", cand.line) or cand.line
        if not any(sf is cand.file and cand.line <= fake.line <= end for sf, fake in fakes):
            loops.append((cand, eff))
    backward_in = {lp.file.path for lp in training.loops if lp.backward}
    backward_in |= {c.file.path for c, eff in loops if eff.backward}
    idle = [opt for opt in idle if opt.file.path in backward_in
            or not any(c.file is opt.file and c.scope is opt.scope for c, _ in loops)]
    for cand, eff in loops:
        if eff.backward and any(opt.file is cand.file for opt in idle):
            continue
        missing = [w for w, have in (("backward", eff.backward), ("optimizer step", eff.steps)) if not have]
        shape = _placeholder_body(cand.node)
        does = shape or (f"it calls only {', '.join(sorted(set(eff.calls))[:6])}" if eff.calls else "it calls nothing")
        yield PLACEHOLDER_LOOP.finding(
            f"training loop `{ast.unparse(cand.node).splitlines()[0].rstrip(':')}` never reaches "
            f"{' or '.join(missing)}: {does}", cand.file.path, cand.line,
            evidence={"missing": missing, "backward": eff.backward[:5], "steps": eff.steps[:5],
                      "calls": sorted(set(eff.calls))[:10], "functions_followed": len(eff.reached)})
    for opt in idle:
        yield PLACEHOLDER_LOOP.finding(
            f"optimizer `{opt.var}` ({opt.cls.rsplit('.', 1)[-1]}) is built but never stepped: no "
            f"`{opt.var}.step()` anywhere it is used, so no parameter is ever updated", opt.file.path, opt.line,
            evidence={"optimizer": opt.cls, "variable": opt.var})
    for lp, stop in loop_facts.one_pass_loops(program):
        yield PLACEHOLDER_LOOP.finding(
            f"training loop `{ast.unparse(lp.node).splitlines()[0].rstrip(':')}` stops after its first pass: the "
            f"`break` at line {stop.lineno} runs unconditionally, so it steps the optimizer once",
            lp.file.path, lp.line, evidence={"break": f"{lp.file.path}:{stop.lineno}"})
    for b in loop_facts.optimizers_beside_the_model(program):
        opt = b.opt
        held = ', '.join(b.held)
        holds = f"only the tensors made by {held}" if b.tensors else f"the parameters of {held}"
        yield PLACEHOLDER_LOOP.finding(
            f"optimizer `{opt.var or opt.cls.rsplit('.', 1)[-1]}` holds {holds}, "
            f"which the training loop at {b.loop.file.path}:{b.loop.line} never uses; the loop runs "
            f"{', '.join(b.runs)}, which those steps leave as built", opt.file.path, opt.line,
            evidence={"optimizer": opt.cls, "holds": list(b.held), "loop": f"{b.loop.file.path}:{b.loop.line}",
                      "runs": list(b.runs)})
    for opt, lr in loop_facts.zero_lr_optimizers(program):
        yield PLACEHOLDER_LOOP.finding(
            f"optimizer `{opt.var}` ({opt.cls.rsplit('.', 1)[-1]}) is built with a learning rate of {lr} and nothing "
            f"sets another: every step leaves the weights as they are", opt.file.path, opt.line,
            evidence={"optimizer": opt.cls, "variable": opt.var, "lr": lr})
    for sf, c in cut:
        yield PLACEHOLDER_LOOP.finding(
            f"`{c.name}` is cut from the model before backward(): {c.how}; backward reaches no parameter, so no "
            f"optimizer step changes the model", sf.path, c.line, evidence={"loss": c.name, "how": c.how})
    for sf in program.production:
        for c in loop_facts.file_cleared_steps(program, sf):
            yield PLACEHOLDER_LOOP.finding(
                f"`{c.optimizer}.zero_grad()` clears the gradients that backward() computed at line {c.backward}, "
                f"right before `{c.optimizer}.step()`: every step applies no gradient, so the model does not learn",
                sf.path, c.zero, evidence={"optimizer": c.optimizer, "backward": c.backward, "zero_grad": c.zero,
                                           "step": c.step})
    for sf, fake in fakes:
        made_of = f"loop counters ({', '.join(fake.counters)})" if fake.counters else "constants"
        yield PLACEHOLDER_LOOP.finding(
            f"`{fake.name} = {fake.expr}` is made of {made_of}, not of model outputs: the loss is fake",
            sf.path, fake.line, evidence={"loss": fake.name, "expression": fake.expr,
                                          "counters": list(fake.counters)})
