"""Evaluation facts: evaluation passes, metric names computed or logged, and metric values written as literals."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

from trainaudit.evidence.flow import Flow, Kind, Origin, Prov, callee_module, is_loss_class, names_bound, origin_order
from trainaudit.evidence.index import (
    FunctionInfo,
    ProjectIndex,
    iter_scopes,
    main_guard_lines,
    scope_body,
    scope_statements,
    scope_text,
    subtree,
    walk_scope,
)
from trainaudit.evidence.loop_facts import (
    NO_GRAD,
    LazyCounters,
    draws_at_random,
    is_counter_formula,
    is_literal_number,
    is_no_grad_function,
    literal_or_counter_formula,
    name_token_tuple,
    no_grad_blocks,
)
from trainaudit.evidence.run_path import Scope, scope_nodes
from trainaudit.evidence.source import SourceFile

# -- vocabulary --------------------------------------------------------------------------------------------
# Words that name a measurement beyond the loss. Synonyms map to one canonical word so "val_acc" meets
# a spec's "accuracy" and "jaccard" meets "iou".
SYNONYMS = {
    "acc": "accuracy", "accuracies": "accuracy", "top1": "accuracy", "dsc": "dice", "jaccard": "iou",
    "miou": "iou", "ppl": "perplexity", "auroc": "auc", "rocauc": "auc", "f1score": "f1", "fscore": "f1",
    "fbeta": "f1", "prec": "precision", "rec": "recall", "sensitivity": "recall", "tpr": "recall", "rewards": "reward",
}
METRIC_WORDS = frozenset({
    "accuracy", "correct", "top5", "f1", "precision", "recall", "specificity", "auc", "ap", "map", "dice", "iou",
    "psnr", "ssim", "lpips", "bleu", "rouge", "meteor", "perplexity", "wer", "cer", "r2", "kappa", "mcc", "fid",
    "ndcg", "mrr", "hits", "pearson", "spearman", "correlation", "confusion", "hausdorff", "chrf", "sacrebleu",
    "reward",  # reinforcement learning measures the policy by the rewards it earns
})
WEAK_METRIC_WORDS = frozenset({"mse", "mae", "rmse", "mape", "nll", "error", "err"})  # metrics only in evaluation
LOSS_WORDS = frozenset({"loss", "losses", "nll", "elbo"})
COMPOUND = ("iou", "f1", "auc", "psnr", "ssim", "dice")  # split by camel-case (`MeanIoU` -> mean io u)
METRIC_LIBRARIES = ("torchmetrics.", "sklearn.metrics.", "torcheval.", "evaluate.load", "ignite.metrics.",
                    "monai.metrics.", "segmentation_models_pytorch.metrics", "skimage.metrics.", "sacrebleu.",
                    "nltk.translate.bleu_score", "jiwer.", "torch_fidelity.", "pytorch_msssim.", "piq.", "lpips.",
                    "scipy.stats.pearsonr", "scipy.stats.spearmanr", "rouge_score.", "pycocotools.cocoeval",
                    "torchvision.ops.box_iou", "keras.metrics.", "tensorflow.keras.metrics.")
# Parts of a spec metric name that only qualify it ("val_dice_score" is the dice).
QUALIFIERS = frozenset({"val", "valid", "validation", "test", "train", "eval", "mean", "avg", "average", "score",
                        "metric", "metrics", "macro", "micro", "weighted", "overall", "best", "final",
                        "coefficient", "coef", "index", "rate", "epoch", "step"})
EVAL_WORDS = frozenset({"eval", "evaluate", "evaluation", "evaluator", "validate", "validation", "valid", "val",
                        "test", "testing"})
_NOT_EVAL = frozenset({"loader", "loaders", "dataloader", "dataloaders", "data", "dataset", "datasets", "set", "sets",
                       "split", "splits", "size", "transform", "transforms", "path", "dir", "file", "files", "load",
                       "get", "make", "build", "create", "prepare", "download", "collate", "sampler", "config",
                       "args", "parse", "interval", "freq", "every", "batch"})
EVAL_KEYWORDS = frozenset({"eval_dataset", "compute_metrics", "validation_data", "validation_split", "eval_strategy",
                           "evaluation_strategy", "do_eval", "eval_steps", "val_dataloaders", "val_check_interval",
                           "check_val_every_n_epoch", "validation_freq", "eval_loader", "val_loader",
                           "valid_loader", "eval_dataloader", "validation_steps"})
EVAL_CALLS = frozenset({"evaluate", "validate", "test", "run_eval", "run_validation", "run_test", "eval_epoch",
                        "evaluate_model"})
_SPLIT_WORDS = frozenset({"val", "valid", "validation", "test", "eval", "dev", "holdout", "heldout"})
# A generative model is judged by its samples: GAN, VAE and diffusion examples write them as images (the
# pytorch/examples DCGAN with vutils.save_image) and measure nothing else.
SAMPLE_WRITERS = frozenset({"save_image", "add_image", "add_images", "log_image", "log_images"})


def _spelled_in(vocab: Iterable[str]) -> re.Pattern[str]:
    """Finds the words of `vocab` in a lower-case text. Tokens of an ASCII text are parts of it: a text whose lower
    case holds none of them is answered without being tokenised (rules ask about every word of the project)."""
    return re.compile("|".join(map(re.escape, sorted(vocab))))


def _may_have_token(text: str, spelled: re.Pattern[str]) -> bool:
    return not text.isascii() or spelled.search(text.lower()) is not None


def canonical_words(text: str) -> list[str]:
    """Tokens of a name with synonyms mapped and camel-case splits rejoined (`MeanIoU` -> mean, iou)."""
    return list(_canonical(text))


@lru_cache(maxsize=65536)
def _canonical(text: str) -> tuple[str, ...]:
    toks = name_token_tuple(text)
    out: list[str] = []
    i = 0
    while i < len(toks):
        for width in (3, 2):
            joined = "".join(toks[i:i + width])
            if len(toks[i:i + width]) == width and joined in COMPOUND:
                out.append(joined)
                i += width
                break
        else:
            out.append(SYNONYMS.get(toks[i], toks[i]))
            i += 1
    return tuple(out)


_NOT_METRIC = LOSS_WORDS | {"criterion"}
_WEAK_VOCAB = METRIC_WORDS | WEAK_METRIC_WORDS
_PREFIXED = ("dice", "accuracy", "precision", "recall", "perplexity", "psnr", "ssim")
# The tokens of an ASCII text, in order, spell the text without its separators, in lower case; a token metric_words
# counts (or its synonym, or the tokens joined into a compound) spells a word of the vocabulary there.
_METRIC_SPELLED = _spelled_in(_WEAK_VOCAB | SYNONYMS.keys())
_DROP_SEPARATORS = str.maketrans("", "", "".join(c for c in map(chr, range(128)) if not c.isalnum()))


@lru_cache(maxsize=65536)
def metric_words(text: str, weak: bool = False) -> frozenset[str]:
    """The metric words a name or tag contains; a name that mentions the loss names no metric."""
    if text.isascii() and not _METRIC_SPELLED.search(text.translate(_DROP_SEPARATORS).lower()):
        return frozenset()
    words = _canonical(text)
    if _NOT_METRIC.intersection(words):
        return frozenset()
    vocab = _WEAK_VOCAB if weak else METRIC_WORDS
    hits = {w for w in words if w in vocab}
    hits |= {m for w in words for m in _PREFIXED
             if w != m and len(w) > len(m) and w.startswith(m)}  # "dicescore", "accuracy1"
    return frozenset(hits)


def names_metric(candidate: str, metric: str) -> bool:
    """Does `candidate` (an identifier, tag or key) name the spec metric `metric`? Tolerates prefixes,
    suffixes, case and synonyms: "dice" matches "val_dice", "dice_score", "DiceScore", "DiceMetric"."""
    want = [w for w in canonical_words(metric) if w not in QUALIFIERS] or canonical_words(metric)
    have = set(canonical_words(candidate))
    if want and all(w in have for w in want):
        return True
    flat_want = re.sub(r"[^0-9a-z]", "", metric.lower())
    flat_have = re.sub(r"[^0-9a-z]", "", candidate.lower())
    return len(flat_want) >= 4 and any(t.startswith(flat_want) for t in (flat_have,) if t)


_EVAL_SPELLED = _spelled_in(EVAL_WORDS)


@lru_cache(maxsize=65536)
def is_eval_name(name: str) -> bool:
    """`evaluate`, `validate`, `test`, `validation_step`, `eval_epoch`; not `val_dataloader` or `test_size`."""
    if not _may_have_token(name, _EVAL_SPELLED):
        return False
    words = set(name_token_tuple(name))
    return bool(words & EVAL_WORDS) and not words & _NOT_EVAL


# -- facts ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mention:
    """One place where the code computes, names or logs a metric."""

    name: str  # the identifier, tag, key or library call
    how: str  # "library" | "function" | "variable" | "key or tag" | "pattern"
    path: str
    line: int


@dataclass(frozen=True)
class EvalPass:
    what: str
    path: str
    line: int


def _dotted(sf: SourceFile, node: ast.AST) -> str:
    return (sf.resolve(node) or "") if isinstance(node, (ast.Name, ast.Attribute)) else ""


def _docstrings(sf: SourceFile, fn: FunctionInfo | None) -> set[int]:
    body = fn.node.body if fn is not None else (sf.tree.body if sf.tree else [])
    first = body[0] if body else None
    ids = set()
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        ids.add(id(first.value))
    return ids


def eval_context(sf: SourceFile, fn: FunctionInfo | None) -> set[int]:
    """ids of nodes that run as evaluation: the whole of an eval-named or no_grad function, and no_grad blocks."""
    nodes = list(scope_nodes(sf, fn))
    if fn is not None and (is_eval_name(fn.name) or is_no_grad_function(sf, fn)):
        return {id(n) for n in nodes}
    return {id(n) for w in no_grad_blocks(sf, nodes) for n in subtree(w)}


def _accuracy_pattern(node: ast.AST) -> bool:
    """`(pred == y).sum()`, `pred.eq(y).float().mean()`, `torch.sum(a == b)`, `np.mean(p == y)`."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    inner: list[ast.AST] = []
    if isinstance(func, ast.Attribute) and func.attr in ("sum", "mean", "float", "double", "count_nonzero", "item"):
        inner.append(func.value)
    if (isinstance(func, ast.Name) and func.id == "sum") or (
            isinstance(func, ast.Attribute) and func.attr in ("sum", "mean", "count_nonzero")):
        inner += node.args
    for e in inner:
        for n in subtree(e):
            if (isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.ops[0], ast.Eq)
                    and not isinstance(n.left, ast.Constant) and not isinstance(n.comparators[0], ast.Constant)):
                return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "eq" and n.args:
                return True
    return False


def metric_mentions(scopes: Iterable[Scope]) -> list[Mention]:
    """Metrics computed, named or logged in some scopes: library metrics, metric-named functions, variables,
    dict keys and log tags, and the accuracy pattern. Error-like words (mse, mae) count only in evaluation."""
    out: list[Mention] = []
    for sf, fn in scopes:
        quiet = eval_context(sf, fn)
        skip = _docstrings(sf, fn)
        if fn is not None and metric_words(fn.name, weak=id(fn.node) in quiet):
            out.append(Mention(fn.name, "function", sf.path, fn.node.lineno))
        for node in scope_nodes(sf, fn):
            weak = id(node) in quiet
            line = getattr(node, "lineno", 0)
            if isinstance(node, ast.Call):
                dotted = _dotted(sf, node.func)
                if dotted.startswith(METRIC_LIBRARIES):
                    out.append(Mention(dotted, "library", sf.path, line))
                last = dotted.rsplit(".", 1)[-1] if dotted else (
                    node.func.attr if isinstance(node.func, ast.Attribute) else "")
                if last and metric_words(last, weak):
                    out.append(Mention(last, "function", sf.path, line))
                if _accuracy_pattern(node):
                    out.append(Mention("accuracy", "pattern", sf.path, line))
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and metric_words(node.id, weak):
                out.append(Mention(node.id, "variable", sf.path, line))
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and metric_words(node.attr, weak):
                out.append(Mention(node.attr, "variable", sf.path, line))
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                  and len(node.value) <= 80 and metric_words(node.value, weak)):
                out.append(Mention(node.value.strip(), "key or tag", sf.path, line))
    return out


_PASS_NODES = frozenset({ast.Call, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor})  # ast.parse makes no subclasses


def evaluation_passes(sf: SourceFile, fn: FunctionInfo | None) -> Iterator[EvalPass]:
    """Evaluation in a scope, found lazily (callers that ask whether there is any stop at the first): eval-named
    functions (`evaluate`, `validation_step`), torch.no_grad() or inference_mode() work, loops over validation/test
    data, `trainer.validate/test`, `model.evaluate`, `model.eval()` outside a backward pass, and HF/Keras/Lightning
    evaluation arguments, and a generative model's samples written as images."""
    if fn is not None and is_eval_name(fn.name):
        yield EvalPass(f"{fn.name}()", sf.path, fn.node.lineno)
    if is_no_grad_function(sf, fn):
        yield EvalPass(f"@no_grad {fn.name}()", sf.path, fn.node.lineno)  # type: ignore[union-attr]
    has_backward: bool | None = None  # only `model.eval()` asks
    for n in scope_nodes(sf, fn):
        if n.__class__ not in _PASS_NODES:  # most nodes: one set lookup
            continue
        if isinstance(n, ast.Call):
            func = n.func
            last = func.attr if isinstance(func, ast.Attribute) else (func.id if isinstance(func, ast.Name) else "")
            model_eval = last == "eval" and not n.args and isinstance(func, ast.Attribute)
            if model_eval and has_backward is None:
                has_backward = any(isinstance(m, ast.Call) and isinstance(m.func, ast.Attribute)
                                   and m.func.attr == "backward" for m in scope_nodes(sf, fn))
            if last in EVAL_CALLS or (model_eval and not has_backward):
                yield EvalPass(f"{ast.unparse(func)}()", sf.path, n.lineno)
            elif last in SAMPLE_WRITERS or (isinstance(func, ast.Name) and func.id in sf.aliases and (
                    _dotted(sf, func).rpartition(".")[2] in SAMPLE_WRITERS)):
                yield EvalPass(f"samples written with {ast.unparse(func)}()", sf.path, n.lineno)
            for k in n.keywords:
                if k.arg in EVAL_KEYWORDS:
                    yield EvalPass(f"{k.arg}=", sf.path, n.lineno)
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            if no_grad_blocks(sf, (n,)):
                inner = [m for s in n.body for m in subtree(s)]  # its body: `torch.no_grad()` itself is a call
                if any(isinstance(m, ast.Call) for m in inner) and not any(
                        isinstance(m, ast.Attribute) and m.attr == "grad" for m in inner):  # not a manual SGD update
                    yield EvalPass("torch.no_grad() block", sf.path, n.lineno)
        elif isinstance(n, (ast.For, ast.AsyncFor)) and _iterates_split(n.iter):
            yield EvalPass(f"loop over {ast.unparse(n.iter)[:60]}", sf.path, n.lineno)


def _iterates_split(it: ast.AST) -> bool:
    for n in subtree(it):
        text = n.id if isinstance(n, ast.Name) else n.attr if isinstance(n, ast.Attribute) else (
            n.value if isinstance(n, ast.Constant) and isinstance(n.value, str) else "")
        if set(name_token_tuple(text)) & _SPLIT_WORDS:
            return True
    return False


# -- word tests: a fact can hold in a scope only if its source spells certain words ----------------------------
# Every identifier of a scope, and every token of a string in it, is part of a word of its source, with these
# exceptions: a non-ASCII source (identifiers are read in NFKC form); escapes ("\naccuracy" is the word
# `naccuracy` in the source, "\x41cc" spells `Acc`); strings written side by side ("accur" "acy" is one string);
# and metric_words joining tokens of different words ("F-1" is f1, "Io U" is iou).
_WORD = re.compile(r"\w+", re.ASCII)
_CONTROL_ESCAPE = re.compile(r"\\[abfnrtv]")
_AFTER_CONTROL_ESCAPE = re.compile(r"\\[abfnrtv](\w+)", re.ASCII)
_OTHER_ESCAPE = re.compile(r"\\[^abfnrtv'\"\\]")  # \x41, \u0061, \N{...}, octal, and line continuations
# Between the two pieces: whitespace, comments, and empty strings ("ac" "" "c" is "acc"). A comment runs to the end
# of its line: `#[^\n]*` alone could also end anywhere inside it, and a banner of 97 `#` after a quoted word
# then split in exponentially many ways (torch's NVIDIA licence headers stalled the audit).
_SIDE_BY_SIDE = re.compile(
    r"\w[\"']{1,3}(?:\s|#[^\n]*(?![^\n])|[rRbBuUfF]{0,2}(?:\"\"|''))*[rRbBuUfF]{0,2}[\"']{1,3}\w")


def _split_compound(compound: str) -> str:
    """A pattern for a compound spelled with a break between two of its tokens; a match ends where a token ends."""
    sep = "[^0-9A-Za-z]"
    end = "(?![0-9])" if compound[-1].isdigit() else "(?-i:(?![a-z0-9]))"
    return "|".join((sep + "*").join(compound[:g]) + sep + "+" + (sep + "*").join(compound[g:]) + end
                    for g in range(1, len(compound)))


_SPLIT_COMPOUND = re.compile("|".join(map(_split_compound, COMPOUND)), re.IGNORECASE)


def _hidden_words(text: str) -> frozenset[str] | None:
    """Words that strings written in `text` may spell although `text` does not (None: any word)."""
    if not text.isascii():
        return None
    if '"' not in text and "'" not in text:
        return frozenset()  # no string
    hidden: set[str] = set()
    if "\\" in text:
        if _OTHER_ESCAPE.search(text):
            return None
        hidden.update(_AFTER_CONTROL_ESCAPE.findall(text))
        text = _CONTROL_ESCAPE.sub(" ", text)
    if _SIDE_BY_SIDE.search(text):
        return None
    if _SPLIT_COMPOUND.search(text):
        hidden.update(COMPOUND)
    return frozenset(hidden)


def _may_spell(index: ProjectIndex, text: str, words: frozenset[str], test: Callable[[str], bool]) -> bool:
    """Can code written as `text` (whose words are `words`) hold a name or string word that passes `test`?"""
    if not words.isdisjoint(index.words_where(test)):
        return True
    hidden = _hidden_words(text)
    return hidden is None or any(test(w) for w in hidden)


_NO_GRAD_NAMES = frozenset(q.rpartition(".")[2] for q in NO_GRAD)
_PASS_CALL_NAMES = _NO_GRAD_NAMES | SAMPLE_WRITERS  # what an imported name may stand for
_EVAL_TOKENS = EVAL_WORDS | _SPLIT_WORDS
_EVAL_TOKENS_SPELLED = _spelled_in(_EVAL_TOKENS)


def _evaluation_word(word: str) -> bool:
    """Eval names and calls, split names, evaluation keywords, no_grad and sample writers spell one of these."""
    return word in EVAL_KEYWORDS or word in _PASS_CALL_NAMES or (
        _may_have_token(word, _EVAL_TOKENS_SPELLED) and not _EVAL_TOKENS.isdisjoint(name_token_tuple(word)))


_LIBRARY_TOPS = frozenset(p.partition(".")[0] for p in METRIC_LIBRARIES)
_ACCURACY_CALLS = frozenset({"sum", "mean", "float", "double", "count_nonzero", "item"})


def _metric_word(word: str) -> bool:
    """Metric-named functions, variables, keys and tags spell a metric word; an unimported library its package."""
    return bool(metric_words(word, weak=True)) or word in _LIBRARY_TOPS


def evaluates_or_measures(index: ProjectIndex, scope: Scope) -> bool:
    """Does a scope hold an evaluation pass or a metric mention? Each is looked for only when the scope's source
    spells its words (a name imported under another name counts by what it imports): an evaluation pass needs an
    evaluation word or no_grad; a mention a metric word, a metrics library or the parts of the accuracy pattern."""
    sf, fn = scope
    text = scope_text(sf, fn)
    words = frozenset(_WORD.findall(text))
    imported = {k: v for k, v in sf.aliases.items() if k in words}
    if (_may_spell(index, text, words, _evaluation_word)
            or any(v.rpartition(".")[2] in _PASS_CALL_NAMES for v in imported.values())):
        if next(evaluation_passes(sf, fn), None) is not None:
            return True
    if (_may_spell(index, text, words, _metric_word)
            or any(v.partition(".")[0] in _LIBRARY_TOPS or metric_words(v.rpartition(".")[2], weak=True)
                   for v in imported.values())
            or (not words.isdisjoint(_ACCURACY_CALLS) and ("==" in text or "eq" in words))):
        return bool(metric_mentions([scope]))
    return False


# -- literal metric values ------------------------------------------------------------------------------------
LOG_CALLS = frozenset({"log", "log_metric", "log_metrics", "log_dict", "add_scalar", "add_scalars", "log_scalar",
                       "log_scalars", "report_scalar", "log_value"})
DUMP_CALLS = frozenset({"json.dump", "json.dumps", "yaml.dump", "yaml.safe_dump", "toml.dump", "tomli_w.dump",
                        "pickle.dump", "torch.save"})
_MATH_LOG = ("math.", "numpy.", "torch.", "jax.", "scipy.", "tensorflow.math")
# Every LOG_CALLS name, and the last part of every DUMP_CALLS name, contains one of these (a resolved name's last
# part is always spelled in the file, in the call or its import).
_CALL_WORDS = ("log", "add_scalar", "report_scalar", "dump", "save")


def _call_word(word: str) -> bool:
    return any(w in word for w in _CALL_WORDS)


@dataclass(frozen=True)
class LiteralMetric:
    """A metric whose value is a literal or a formula of loop counters and random draws, and how it leaves the
    code."""

    key: str
    value: str
    how: str  # "returned from evaluate()", "logged with writer.add_scalar", "written with json.dump", "assigned"
    path: str
    line: int
    random: bool = False  # drawn at random (`random.uniform(0.92, 0.96)`)


# Keys that hold settings about a metric, not its value: `{"target_accuracy": 0.9}` is config.
_SETTING_WORDS = frozenset({"threshold", "thresh", "target", "goal", "min", "max", "baseline", "expected", "required",
                            "tolerance", "tol", "patience", "delta", "weight", "smoothing", "beta", "k"})


def _metric_identifier(word: str) -> bool:
    return bool(metric_words(word, weak=True))


def _result_key(text: str) -> bool:
    words = set(_canonical(text))
    if words & _SETTING_WORDS:
        return False
    return bool(metric_words(text, weak=True)) or bool(words & LOSS_WORDS)


_LOSS_SPELLED = _spelled_in(LOSS_WORDS)  # no synonym or compound is a loss word: _canonical keeps them as spelled


def _result_word(word: str) -> bool:
    """Result keys, and the names of metric-named or evaluation functions and variables, spell one of these."""
    return _metric_identifier(word) or is_eval_name(word) or (
        _may_have_token(word, _LOSS_SPELLED) and not LOSS_WORDS.isdisjoint(_canonical(word)))


def _result_spellings(index: ProjectIndex, sf: SourceFile) -> frozenset[str] | None:
    """The file's words that can key or name a literal metric (a result key, a metric or evaluation name): a scope
    whose text spells none of them holds none. None when its strings may spell such a word that its text does not
    (see _hidden_words); keys are strings only in dict literals and logging or dump calls."""
    if "{" in sf.text or not sf.words.isdisjoint(index.words_where(_call_word)):
        hidden = _hidden_words(sf.text)
        if hidden is None or any(_result_word(w) for w in hidden):
            return None
    return sf.words & index.words_where(_result_word)


def _dict_items(node: ast.AST, stmts: list[ast.stmt]) -> list[tuple[str, ast.expr]]:
    """String-keyed items of a dict literal, or of a name bound once to a dict literal (plus `d["k"] = v`)."""
    if isinstance(node, ast.Dict):
        return [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if not isinstance(node, ast.Name):
        return []
    binds: list[ast.AST] = []
    items: list[tuple[str, ast.expr]] = []
    for n in walk_scope(stmts):
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(
            n, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id == node.id:
                binds.append(n.value if isinstance(n, (ast.Assign, ast.AnnAssign)) else n)
            elif (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id == node.id
                  and isinstance(t.slice, ast.Constant) and isinstance(t.slice.value, str)):
                # `d["k"] += x` accumulates: the value is computed, whatever x is
                items.append((t.slice.value, t if isinstance(n, ast.AugAssign) else n.value))  # type: ignore
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "update"
                and isinstance(n.func.value, ast.Name) and n.func.value.id == node.id and n.args):
            items += _dict_items(n.args[0], stmts)
            if not isinstance(n.args[0], ast.Dict):
                return []
    if len(binds) != 1 or not isinstance(binds[0], ast.Dict):
        return []
    return _dict_items(binds[0], stmts) + items


class _Bound:
    """A name's value where the scope binds it once (`val_acc = 0.93`, then `self.log("val_acc", val_acc)`), in
    the function or, for a name it does not bind, at the module's top level; any other expression as it is. A
    name bound twice or more (`best = 0.0`, later rebound), in place (`+=`), by a loop or `:=`, a parameter, or
    a module name some function declares `global` is left as it is. The module's bindings (`top`) are read once
    per file, by the first scope that asks."""

    def __init__(self, sf: SourceFile, fn: FunctionInfo | None, stmts: list[ast.stmt],
                 top: Callable[[], dict[str, ast.expr | None]]) -> None:
        self.sf, self.fn, self.stmts, self.top = sf, fn, stmts, top
        self._scopes: list[dict[str, ast.expr | None]] | None = None

    def __call__(self, expr: ast.expr) -> ast.expr:
        if not isinstance(expr, ast.Name):
            return expr
        if self._scopes is None:
            if self.fn is None:
                self._scopes = [self.top()]
            else:  # a parameter is bound by every call: `if acc is None: acc = 0.0` is a default
                local = _single_bindings(self.stmts, ":=" in self.sf.text)
                local.update(dict.fromkeys(self.fn.params))
                self._scopes = [local, self.top()]
        for scope in self._scopes:
            if expr.id in scope:
                return scope[expr.id] or expr
        return expr


def _module_bindings(sf: SourceFile) -> dict[str, ast.expr | None]:
    """_single_bindings of a file's top level, with the names a function rebinds through `global` left unknown."""
    top = _single_bindings(scope_body(sf, None), ":=" in sf.text)
    if "global" in sf.text and sf.tree is not None:
        top.update(dict.fromkeys(n for g in ast.walk(sf.tree) if isinstance(g, ast.Global) for n in g.names))
    return top


def _single_bindings(stmts: list[ast.stmt], walrus: bool) -> dict[str, ast.expr | None]:
    """Names a scope binds, each with its value if it is bound once, by a plain assignment, else None. `:=` binds
    in expressions: with `walrus` (the file spells it), the whole scope is walked for it."""
    out: dict[str, ast.expr | None] = {}
    for node in walk_scope(stmts) if walrus else scope_statements(stmts):
        if isinstance(node, ast.NamedExpr):  # `(acc := ...)` rebinds too
            out[node.target.id] = None
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            once = len(targets) == 1 and isinstance(targets[0], ast.Name)
        elif isinstance(node, (ast.AugAssign, ast.For, ast.AsyncFor)):
            once, targets = False, [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            once, targets = False, [i.optional_vars for i in node.items if i.optional_vars is not None]
        else:
            continue
        for name in (n.id for t in targets for n in subtree(t) if isinstance(n, ast.Name)):
            out[name] = node.value if once and name not in out else None  # type: ignore[union-attr]
    return out


def _literal_items(sf: SourceFile, items: list[tuple[str, ast.expr]],
                   counters: Container[str]) -> list[tuple[str, ast.expr]]:
    """Result-named items whose value is a literal or a counter formula (keys also set from data are skipped)."""
    live = {k for k, v in items if not literal_or_counter_formula(sf, v, counters)}
    return [(k, v) for k, v in items if _result_key(k) and k not in live
            and literal_or_counter_formula(sf, v, counters)]


def _returns(fn: FunctionInfo) -> list[ast.Return]:
    return [n for n in scope_statements(fn.node.body) if isinstance(n, ast.Return) and n.value is not None]


def _return_literals(sf: SourceFile, fn: FunctionInfo, stmts: list[ast.stmt], counters: Container[str],
                     bound: _Bound) -> Iterator[tuple[str, ast.expr, str]]:
    """Literal metric values an evaluation or metric function returns. A literal that another return of the
    same function computes (a guard such as `if not total: return 0.0` beside `return correct / total`) is fine."""
    named = is_eval_name(fn.name) or bool(metric_words(fn.name, weak=True))
    found: list[tuple[str, ast.expr, str]] = []
    computed: set[str] = set()
    bare: list[ast.expr] = []
    for ret in _returns(fn):
        value = ret.value
        assert value is not None
        items = [(k, bound(v)) for k, v in _dict_items(value, stmts)]
        if items:
            computed |= {k for k, v in items if not literal_or_counter_formula(sf, v, counters)}
            found += [(k, v, f"returned from {fn.name}()") for k, v in _literal_items(sf, items, counters)]
        else:
            bare.append(bound(value))
    found = [f for f in found if f[0] not in computed]
    elements = [e for v in bare for e in (v.elts if isinstance(v, ast.Tuple) else [v])]
    if named and elements and all(literal_or_counter_formula(sf, e, counters) for e in elements) and (
            metric_words(fn.name, weak=True)
            or any(isinstance(c, ast.Constant) and isinstance(c.value, float) for e in elements for c in subtree(e))):
        # `return 0` from an evaluation helper is more likely a status than a score; a float is a score
        found += [(fn.name, e, f"returned from {fn.name}()") for e in elements]
    yield from found


def _log_pairs(sf: SourceFile, call: ast.Call, stmts: list[ast.stmt]) -> list[tuple[str, ast.expr]]:
    """(tag, value) pairs a logging call writes: `add_scalar(tag, v)`, `log(name, v)`, `log({...})`."""
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    args = list(call.args)
    tag = args[0] if args else kw.get("tag") or kw.get("key") or kw.get("name")
    if isinstance(tag, ast.Constant) and isinstance(tag.value, str):
        value = args[1] if len(args) > 1 else kw.get("value") or kw.get("scalar_value") or kw.get("val")
        pairs = [(tag.value, value)] if value is not None else []
        if len(args) > 1:
            pairs += _dict_items(args[1], stmts)  # add_scalars("acc", {"val": 0.9})
        return pairs
    first = args[0] if args else kw.get("metrics") or kw.get("data") or kw.get("dictionary") or kw.get(
        "tag_scalar_dict")
    return _dict_items(first, stmts) if first is not None else []


def literal_metrics(index: ProjectIndex, sf: SourceFile) -> list[LiteralMetric]:
    """Metric values that are literals or formulas of loop counters, where they are returned from evaluation
    code, logged (TensorBoard, W&B, MLflow, Lightning), written (json/yaml/torch.save), or assigned to a
    metric-named variable as a counter formula (`acc = 0.5 + 0.05 * epoch`)."""
    spellings = _result_spellings(index, sf)
    if spellings is not None and not spellings:
        return []  # no word of the file can key or name a literal metric
    out: dict[int, LiteralMetric] = {}
    top = cache(lambda: _module_bindings(sf))  # once per file, for the scopes that resolve a name

    def add(key: str, value: ast.expr, how: str) -> None:
        out.setdefault(id(value), LiteralMetric(key, ast.unparse(value), how, sf.path, value.lineno,
                                                draws_at_random(sf, value)))

    # Without a logging or dump call in the file only assignments can hold a literal metric, and they are
    # statements: skipping the expressions cut this check from 0.71 s to 0.13 s on a 1,000-file tree.
    calls = not sf.words.isdisjoint(index.words_where(_call_word))
    ascii_text = sf.text.isascii()
    assigned = calls or not sf.words.isdisjoint(index.words_where(_metric_identifier))
    for fn in iter_scopes(index, sf):
        if spellings is not None and ascii_text:  # words are NFKC forms: a non-ASCII text may spell them otherwise
            text = scope_text(sf, fn)
            if not any(w in text for w in spellings):
                continue  # a word the scope holds is part of its text
        stmts = scope_body(sf, fn)
        counters = LazyCounters(sf, fn)
        bound = _Bound(sf, fn, stmts, top)
        if fn is not None:
            for key, value, how in _return_literals(sf, fn, stmts, counters, bound):
                add(key, value, how)
        if not assigned:
            continue  # no identifier in the file names a metric: no assignment target can
        nodes: list[ast.AST] = walk_scope(stmts) if calls else scope_statements(stmts)
        for node in nodes:
            if isinstance(node, ast.Call):
                func = node.func
                dotted = _dotted(sf, func)
                if isinstance(func, ast.Attribute) and func.attr in LOG_CALLS and not dotted.startswith(_MATH_LOG):
                    for key, value in _log_pairs(sf, node, stmts):
                        value = bound(value)
                        if _result_key(key) and literal_or_counter_formula(sf, value, counters):
                            add(key, value, f"logged with {ast.unparse(func)}")
                elif dotted in DUMP_CALLS and node.args:
                    for key, value in _literal_items(sf, _dict_items(node.args[0], stmts), counters):
                        add(key, value, f"written with {dotted}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    name = t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else None
                    if name and metric_words(name, weak=True) and is_counter_formula(sf, node.value, counters):
                        add(name, node.value, "assigned")
    return sorted(out.values(), key=lambda m: (m.line, m.key))


__all__ = ["EvalPass", "LiteralMetric", "Mention", "evaluates_or_measures", "evaluation_passes", "is_eval_name",
           "is_literal_number", "literal_metrics", "metric_mentions", "metric_words", "names_metric"]


# -- accuracy of noise against noise ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseScore:
    """An accuracy computed in evaluation code from what models make of random inputs and labels drawn at random:
    a number that measures the draws, not the model."""

    path: str
    line: int  # the comparison
    scope: str
    inputs: tuple[str, ...]  # "factory at path:line" of each random input the models are fed
    labels: tuple[str, ...]  # the same for the labels


def _places(origins: Iterable[Origin]) -> tuple[str, ...]:
    return tuple(f"{o.what} at {o.path}:{o.line}" for o in sorted(origins, key=origin_order))


def _noise_fed(flow: Flow, sf: SourceFile, fn: FunctionInfo | None, env: dict[str, Prov],
               nodes: list[ast.AST]) -> tuple[set[Origin], set[int], set[str]]:
    """Of the models run among `nodes`: the random origins of what they are fed, when they are fed nothing but
    random or constant tensors (else empty: some model is fed data, what is not known, or another model's output,
    as a classifier scoring a generator's samples), and what they make: their calls' ids and the names bound to an
    expression holding one (`fake = G(z)`)."""
    models = [c for c in nodes if isinstance(c, ast.Call)
              and (cls := callee_module(flow, c, sf, fn, env)) is not None and not is_loss_class(cls)]
    made = {id(c) for c in models}
    made_names = {t for n in nodes if isinstance(n, ast.Assign)
                  and any(id(m) in made for m in subtree(n.value)) for t in names_bound(n)}
    out: set[Origin] = set()
    for call in models:
        args = [*call.args, *(k.value for k in call.keywords)]
        if any(id(m) in made or isinstance(m, ast.Name) and m.id in made_names for a in args for m in subtree(a)):
            return set(), made, made_names
        got = {o for a in args for o in flow.concrete(flow.eval(_bound_value(a, nodes), sf, fn, env))
               if o.kind is not Kind.INSTANCE}
        if not got or any(o.kind not in (Kind.RANDOM, Kind.CONST) for o in got):
            return set(), made, made_names
        out |= {o for o in got if o.kind is Kind.RANDOM}
    return out, made, made_names


def _bound_value(expr: ast.expr, nodes: list[ast.AST]) -> ast.expr:
    """For a name, what its last binding before it in the same `with` block gives it (Flow merges a scope's
    bindings: a batch the training loop bound to `x`, or an earlier block's draw, would count): an assigned value,
    the matching element of a tuple assigned a tuple, or a `for` loop's iterable. Itself when the block binds it
    nowhere before."""
    if not isinstance(expr, ast.Name):
        return expr
    name, line = expr.id, expr.lineno
    blocks = [n for n in nodes if isinstance(n, (ast.With, ast.AsyncWith))
              and n.lineno <= line <= (n.end_lineno or n.lineno)]
    start = max(n.lineno for n in blocks) if blocks else 0
    best: tuple[int, ast.expr] | None = None
    for n in nodes:
        at = getattr(n, "lineno", 0)
        if not start <= at < line or best is not None and at < best[0]:
            continue
        value: ast.expr | None = None
        if isinstance(n, ast.Assign) and len(n.targets) == 1:
            target = n.targets[0]
            if isinstance(target, ast.Name) and target.id == name:
                value = n.value
            elif isinstance(target, (ast.Tuple, ast.List)) and name in names_bound(n):
                pairs = zip(target.elts, n.value.elts, strict=False) if isinstance(n.value, (ast.Tuple, ast.List)) \
                    and len(n.value.elts) == len(target.elts) else []
                value = next((v for t, v in pairs if isinstance(t, ast.Name) and t.id == name), n.value)
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == name:
            value = n.value
        elif isinstance(n, (ast.For, ast.AsyncFor)) and name in names_bound(n):
            value = n.iter
        if value is not None:
            best = (at, value)
    return best[1] if best is not None else expr


_CHANCE_WORDS = frozenset({"chance", "sanity"})


def noise_scores(program) -> list[NoiseScore]:  # noqa: ANN001  (Program: an import cycle)
    """Accuracies (see _accuracy_pattern) in evaluation code of the production files (eval-named or no_grad
    functions, no_grad blocks; not inside a training loop, which synthetic-data judges) comparing what a model made
    of nothing but random or constant tensors with a random draw (`y = torch.randint(...)`). Not under `assert`,
    nor in the `__main__` block of a module another file imports (smoke tests check shapes, they report nothing)."""
    flow, index = program.flow, program.index
    in_training = {id(n) for lp in program.training.loops for n in lp.body()}
    out: list[NoiseScore] = []
    for sf in program.production:
        if "randint" not in sf.words and "integers" not in sf.words and "choice" not in sf.words:
            continue  # no draw of integer labels
        guards = main_guard_lines(sf) if "__main__" in sf.text and any(
            other.imports(sf.module) for other in program.production if other is not sf) else []
        for fn in iter_scopes(index, sf):
            if fn is not None and not _CHANCE_WORDS.isdisjoint(name_token_tuple(fn.name)):
                continue  # a chance-level check prints what noise scores, on purpose
            quiet = eval_context(sf, fn)
            nodes = [n for n in scope_nodes(sf, fn) if id(n) in quiet and id(n) not in in_training]
            compares = [n for n in nodes if _accuracy_pattern(n)
                        and not any(a <= n.lineno <= b for a, b in guards)]  # type: ignore[attr-defined]
            if not compares:
                continue
            env = flow.env(sf, fn)
            inputs, made, made_names = _noise_fed(flow, sf, fn, env, nodes)
            if not inputs:
                continue
            asserted = {id(m) for n in scope_nodes(sf, fn) if isinstance(n, ast.Assert) for m in subtree(n)}
            for node in compares:
                if id(node) in asserted:
                    continue
                pairs = [(n.left, n.comparators[0]) for n in subtree(node) if isinstance(n, ast.Compare)]
                pairs += [(n.func.value, n.args[0]) for n in subtree(node) if isinstance(n, ast.Call)
                          and isinstance(n.func, ast.Attribute) and n.func.attr == "eq" and n.args]
                labels = None
                for a, b in pairs:
                    for side, other in ((a, b), (b, a)):
                        p = flow.concrete(flow.eval(_bound_value(side, nodes), sf, fn, env))
                        if p and all(o.kind is Kind.RANDOM for o in p) and not p & inputs and any(
                                id(m) in made or isinstance(m, ast.Name) and m.id in made_names
                                for m in subtree(other)):
                            labels = p  # a draw, compared with what a model made
                if labels:
                    out.append(NoiseScore(sf.path, node.lineno, fn.qualname if fn else sf.module,
                                          _places(inputs), _places(labels)))
                    break
    return out
