"""Recognising what a tag measures from its name: training loss, validation series, metrics, bookkeeping."""

from __future__ import annotations

import re

_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

LOSS_WORDS = frozenset({"loss", "nll", "bce", "ce", "xent", "crossentropy", "objective", "cost", "elbo"})
VALIDATION_WORDS = frozenset({"val", "valid", "validation", "eval", "evaluation", "test", "dev", "holdout"})
TRAIN_WORDS = frozenset({"train", "training", "trn"})
# Canonical metric -> the tokens that name it.
METRIC_ALIASES: dict[str, frozenset[str]] = {
    "accuracy": frozenset({"accuracy", "acc", "top1", "top5"}),
    "f1": frozenset({"f1", "f1score", "fscore", "fbeta"}),
    "dice": frozenset({"dice", "dsc", "dicescore"}),
    "iou": frozenset({"iou", "miou", "jaccard"}),
    "auc": frozenset({"auc", "auroc", "rocauc", "roc", "auprc", "ap", "map"}),
    "precision": frozenset({"precision", "prec"}),
    "recall": frozenset({"recall", "sensitivity", "specificity", "tpr"}),
    "mse": frozenset({"mse", "rmse"}),
    "mae": frozenset({"mae", "l1"}),
    "r2": frozenset({"r2"}),
    "perplexity": frozenset({"perplexity", "ppl"}),
    "bleu": frozenset({"bleu", "rouge", "rouge1", "rouge2", "rougel", "meteor", "chrf", "wer", "cer"}),
    "psnr": frozenset({"psnr", "ssim", "fid", "lpips"}),
    "reward": frozenset({"reward", "return", "score", "mcc", "kappa", "error", "err"}),
}
# Bookkeeping a trainer logs that measures nothing about the model's quality.
BOOKKEEPING = frozenset({
    "lr", "learning", "rate", "epoch", "step", "steps", "global", "time", "runtime", "timestamp", "samples",
    "per", "second", "sec", "flos", "grad", "norm", "momentum", "beta1", "beta2", "weight", "decay",
    "memory", "mem", "gpu", "cpu", "throughput", "tokens", "it", "batch", "size", "wall", "hp", "metric",
})
_BOOKKEEPING_LEADS = frozenset({"lr", "learning", "epoch", "step", "global", "grad", "memory", "gpu", "cpu",
                                "throughput", "time", "runtime", "timestamp", "samples", "batch", "momentum"})


def tokens(tag: str) -> list[str]:
    """Lower-case word tokens: 'val/Loss_epoch' -> ['val', 'loss', 'epoch']; 'trainLoss' -> ['train', 'loss']."""
    return [t for t in _SPLIT.split(_CAMEL.sub(" ", tag).lower()) if t]


def _joined(tag: str) -> str:
    return "".join(tokens(tag))


def is_loss(tag: str) -> bool:
    toks = tokens(tag)
    return any(t in LOSS_WORDS or t.endswith("loss") for t in toks)


def is_validation(tag: str) -> bool:
    toks = tokens(tag)
    return any(
        t in VALIDATION_WORDS or (t.startswith(("val", "eval", "test")) and not t.startswith("value"))
        for t in toks
    )


def is_train_loss(tag: str) -> bool:
    """A loss that is not a validation/test loss: 'loss', 'train/loss', 'train_loss_step', 'Loss/train'."""
    return is_loss(tag) and not is_validation(tag)


def metric_kind(tag: str) -> str | None:
    """The canonical metric a tag measures ('val_acc' -> 'accuracy'), or None."""
    toks = tokens(tag)
    for canonical, names in METRIC_ALIASES.items():
        if any(t in names for t in toks):
            return canonical
    joined = "".join(toks)
    for canonical in ("accuracy", "f1score", "dice", "iou", "auroc", "precision", "recall", "perplexity"):
        if canonical in joined:
            return next(k for k, v in METRIC_ALIASES.items() if canonical in v or canonical == k)
    return None


def is_bookkeeping(tag: str) -> bool:
    """Learning rate, epoch counters, timings, grad norms: logged by trainers, not a quality measure."""
    toks = tokens(tag)
    if not toks or is_loss(tag) or metric_kind(tag):
        return False
    return toks[0] in _BOOKKEEPING_LEADS or all(t in BOOKKEEPING or t in TRAIN_WORDS or t in VALIDATION_WORDS
                                                 for t in toks)


def is_quality(tag: str) -> bool:
    """A loss or a metric: something a real run's numbers would make fluctuate."""
    return is_loss(tag) or metric_kind(tag) is not None


def matches_metric(tag: str, wanted: str) -> bool:
    """Whether a tag reports a metric the spec names ('dice' matches 'val/dice_score', 'acc' 'accuracy')."""
    want = _joined(wanted)
    if not want:
        return False
    if want in _joined(tag) and len(want) >= 3:
        return True
    toks = set(tokens(tag))
    if want in toks:
        return True
    wanted_kind = metric_kind(wanted)
    return wanted_kind is not None and metric_kind(tag) == wanted_kind and (
        wanted_kind != "reward" or want in toks
    )
