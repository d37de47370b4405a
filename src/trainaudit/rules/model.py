"""Rules about what is trained on what: the model that reaches the optimizer and the data that reaches it."""

from __future__ import annotations

import re

from trainaudit.evidence import loop_facts
from trainaudit.evidence.dataset_items import made_up_items
from trainaudit.evidence.flow import Kind, origin_order
from trainaudit.evidence.index import ClassInfo
from trainaudit.finding import Severity
from trainaudit.rules.registry import Rule, check, register

PLACEHOLDER_MODEL = register(
    Rule("TA101", "placeholder-model", "model", Severity.ERROR,
         "The module whose parameters reach the optimizer is a stand-in, not the required architecture.",
         remedy="Train the required architecture{model}: build the optimizer over its parameters, not a stand-in.")
)
SYNTHETIC_DATA = register(
    Rule("TA102", "synthetic-data", "data", Severity.ERROR,
         "The batches that reach the model come from random generators, and no dataset feeds the loop.",
         remedy="Feed the training loop from the real or declared data source{data}, not from random tensors.")
)

TRAINED_ON_EVAL_DATA = register(
    Rule("TA104", "trained-on-eval-data", "data", Severity.ERROR,
         "The training loop trains on validation or test data while the training split it builds goes unused.",
         remedy="Train on the training split; keep validation and test data for measuring the trained model.")
)


# --- placeholder-model ------------------------------------------------------------------------------


STANDIN_WORDS = ("simplified", "simple", "dummy", "placeholder", "mock", "fake", "toy", "stub", "minimal",
                 "tiny", "basic", "standin", "stand-in", "lite", "mini", "small", "smaller")
# Words that say a class replaces another, not only that it is smaller: a docstring naming another class counts it
# as the replaced one only beside one of these ("a model 30x smaller than VGG" is a zoo entry, not a stand-in).
_REPLACING_WORDS = frozenset({"simplified", "dummy", "placeholder", "mock", "fake", "toy", "stub", "standin",
                              "stand-in"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _standin_signals(cls: ClassInfo) -> list[str]:
    """Words in the class name or docstring that say 'this is not the real thing'."""
    words = [w.lower() for w in _WORD.findall(cls.name)]
    sig = [f"name word '{w}'" for w in words if w in STANDIN_WORDS]
    doc = cls.docstring.lower()
    sig += [f"docstring says '{w}'" for w in STANDIN_WORDS  # the substring test is a cheap necessary condition
            if w in doc and re.search(rf"\b{re.escape(w)}\b", doc)]
    return sig


def _stripped(name: str) -> str:
    words = _WORD.findall(name)
    return "".join(w for w in words if w.lower() not in STANDIN_WORDS)


def _counterparts(program, cls: ClassInfo, where: str) -> list[ClassInfo]:
    """Project model classes elsewhere that the stand-in stands in for, that no optimizer trains and that the file
    training it (`where`) does not build beside it (a distilled student's frozen teacher): the class named as the
    stand-in without its stand-in words (SimpleFooNet: FooNet), or, when the stand-in says what it is (name or
    docstring words), a class its docstring names ("a simplified stand-in for the VisionTransformer")."""
    core = _stripped(cls.name)
    signals = _standin_signals(cls)
    if not core or core == cls.name and not signals:
        return []
    index, training = program.index, program.training
    replacing = any(s.startswith("docstring") and s.split("'")[1] in _REPLACING_WORDS for s in signals)
    doc = set(_IDENTIFIER.findall(cls.docstring)) if replacing else set()
    found = [c for c in index.classes.values()
             if c is not cls and not c.file.is_test and c.file is not cls.file and index.is_module(c)
             and (c.name == core or c.name in doc) and cls not in index.mro(c) and c not in index.mro(cls)]
    if not found:
        return []
    trained = training.trained_classes()
    trained |= {m for t in trained if t in index.classes
                for mods in program.flow.submodules(index.classes[t]).values() for m in mods}
    beside = {c.qualname for c in found if any(s.file.path == where for s in index.call_sites.get(c.qualname, []))}
    return sorted((c for c in found if c.qualname not in trained | beside), key=lambda c: c.name != core)


def _fits_required(index, flow, trained: str, required: list[ClassInfo], required_name: str) -> bool:
    cls = index.classes.get(trained)
    if cls is None:  # an external class: compare by name
        return trained.rsplit(".", 1)[-1] == required_name
    mro = index.mro(cls)
    if any(r in mro for r in required) or cls.name == required_name:
        return True
    held = {m for mods in flow.submodules(cls).values() for m in mods}  # a wrapper that holds the model
    return any(r.qualname in held for r in required)


def _where(c: ClassInfo) -> str:
    return f"{c.file.path}:{c.node.lineno}"


@check("placeholder-model")
def _placeholder_model(ctx):
    program = ctx.source
    index, flow, training = program.index, program.flow, program.training
    required_name = ctx.spec.model_name
    required = index.class_named(ctx.spec.model) if ctx.spec.model else []
    seen: set[tuple[str, str]] = set()
    for opt in training.optimizers:
        for trained in opt.modules:
            if (trained, opt.file.path) in seen:
                continue
            seen.add((trained, opt.file.path))
            cls = index.classes.get(trained)
            name = cls.name if cls else trained
            defined = _where(cls) if cls else trained
            if required_name:
                if _fits_required(index, flow, trained, required, required_name):
                    continue
                want = ", ".join(_where(r) for r in required) or "not found in the project"
                yield PLACEHOLDER_MODEL.finding(
                    f"the optimizer trains {name} ({defined}), not the required {required_name} ({want})",
                    opt.file.path, opt.line,
                    evidence={"trained": trained, "trained_defined_at": defined, "required": ctx.spec.model,
                              "required_defined_at": [_where(r) for r in required],
                              "signals": _standin_signals(cls) if cls else []},
                )
            elif cls is not None:
                others = _counterparts(program, cls, opt.file.path)
                if not others:
                    continue
                signals = _standin_signals(cls)
                in_script = cls.file in program.entry_files
                # A name word alone is a model zoo's variant (pytorch-cifar's SimpleDLA beside DLA): a stand-in
                # says what it is in its docstring or is made where it is trained.
                if in_script or any(s.startswith("docstring") for s in signals):
                    real = others[0]
                    yield PLACEHOLDER_MODEL.finding(
                        f"the optimizer trains {cls.name} ({defined}), a stand-in for {real.name} "
                        f"({_where(real)}) which the project defines but never trains",
                        opt.file.path, opt.line,
                        evidence={"trained": trained, "trained_defined_at": defined,
                                  "counterpart": real.qualname, "counterpart_defined_at": _where(real),
                                  "signals": signals + (["defined in the training script"] if in_script else [])},
                    )


# --- synthetic-data ----------------------------------------------------------------------------------
def _random_labels(training, loop, inputs: set) -> tuple | None:
    """The first classification loss of a loop whose labels are a random draw, and that draw, unless it also went
    into the model's inputs: a rotation or jigsaw pretext task labels each input with the transform it drew
    (`rot = randint(0, 4)`; `model(rotate(x, rot))`), which is supervision, not noise."""
    path = loop.file.path
    for call, loss, draw in training.class_targets(loop):
        if draw is not None and not any(o.kind is Kind.RANDOM and o.path == path and o.line == draw.lineno
                                        for o in inputs):
            return call, loss, draw
    return None


@check("synthetic-data")
def _synthetic_data(ctx):
    program = ctx.source
    declared = ctx.spec.data_name
    reported: set[tuple[str, int]] = set()  # a made-up dataset once, however many loops read it
    for loop in program.training.loops:
        feeds = program.training.feeds(loop)
        origins = {o for _, p in feeds for o in p}
        random = sorted((o for o in origins if o.kind is Kind.RANDOM), key=origin_order)
        if random:  # a physics-informed loss samples its inputs in the domain, supervised by the equation; a
            # generator's latent codes are judged by a discriminator fed real data
            legit = program.training.domain_points | program.training.latents
            random = [o for o in random if o not in legit]
        has_data = any(o.kind is Kind.DATA for o in origins)
        calls = [f"{loop.file.path}:{n.lineno}" for n, _ in feeds]
        if random and not has_data:
            first = random[0]
            via = f" through {first.via}()" if first.via else ""
            note = f"; the declared data source {declared} is never used" if declared else ""
            makers = list(dict.fromkeys(o.what for o in random if o.via == first.via))  # each generator, once
            yield SYNTHETIC_DATA.finding(
                f"the batches reaching the model in the training loop at {loop.file.path}:{loop.line} come from "
                f"{' and '.join(makers)}{via}, and no dataset feeds the loop{note}",
                first.path, first.line,
                evidence={"loop": f"{loop.file.path}:{loop.line}", "model_calls": calls,
                          "random_sources": [f"{o.what} at {o.path}:{o.line}" + (f" via {o.via}" if o.via else "")
                                             for o in random]},
            )
        elif has_data and (labels := _random_labels(program.training, loop, origins)):
            call, loss, draw = labels
            what = loop.file.resolve(draw.func)
            yield SYNTHETIC_DATA.finding(
                f"the labels {loss} compares the model's output with in the training loop at {loop.file.path}:"
                f"{loop.line} are drawn at random ({what}): real inputs are trained against random classes, so the "
                f"model learns nothing about the data", loop.file.path, draw.lineno,
                evidence={"loop": f"{loop.file.path}:{loop.line}", "loss": f"{loop.file.path}:{call.lineno} {loss}",
                          "random_sources": [f"{what} at {loop.file.path}:{draw.lineno}"]},
            )
        elif has_data and (items := made_up_items(program.training, loop)):
            cls, made, real = items
            first = made[0]
            if (first.path, first.line) in reported:
                continue
            reported.add((first.path, first.line))
            makers = " and ".join(dict.fromkeys(o.what for o in made))
            sources = " and ".join(dict.fromkeys(o.what for o in real))
            kinds = {o.kind for o in made}
            what = "noise" if kinds == {Kind.RANDOM} else "constants" if kinds == {Kind.CONST} else "made-up values"
            yield SYNTHETIC_DATA.finding(
                f"the inputs reaching the model in the training loop at {loop.file.path}:{loop.line} are made by "
                f"{makers} in {cls.name}.__getitem__, while the labels its loss compares them with come from "
                f"{sources}: the model is trained on {what} against real labels", first.path, first.line,
                evidence={"loop": f"{loop.file.path}:{loop.line}", "dataset": cls.qualname,
                          "random_sources": [f"{o.what} at {o.path}:{o.line}" for o in made],
                          "data_sources": [f"{o.what} at {o.path}:{o.line}" for o in real]},
            )
        elif declared and has_data and feeds and loop.kind != "step-method" and not any(
                o.kind is Kind.DATA and o.what == f"declared data source {declared}" for o in origins):
            sources = sorted({f"{o.what} at {o.path}:{o.line}" for o in origins if o.kind is Kind.DATA})
            yield SYNTHETIC_DATA.finding(
                f"the training loop at {loop.file.path}:{loop.line} never uses the declared data source {declared}",
                loop.file.path, loop.line,
                evidence={"loop": f"{loop.file.path}:{loop.line}", "data_sources": sources, "declared": ctx.spec.data},
            )


# --- trained-on-eval-data -----------------------------------------------------------------------------
@check("trained-on-eval-data")
def _trained_on_eval_data(ctx):
    for t in loop_facts.trained_on_eval_data(ctx.source):
        yield TRAINED_ON_EVAL_DATA.finding(
            f"the training loop at {t.file.path}:{t.line} trains on `{t.held}`, held-out data, while `{t.unused}` "
            f"(line {t.unused_line}) is built and never used: whatever is measured on `{t.held}` was trained on",
            t.file.path, t.line, evidence={"iterates": t.held, "unused_training_split": t.unused,
                                           "built_at": f"{t.file.path}:{t.unused_line}"})

