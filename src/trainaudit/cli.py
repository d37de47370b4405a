"""Command line: argument parsing and one small function per command; exit codes from verdict.ExitCode."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from trainaudit import __version__
from trainaudit.verdict import ExitCode

AUDIT_FORMATS = ("text", "json", "markdown", "sarif", "html")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors already; keep its message short
        self.print_usage(sys.stderr)
        self.exit(ExitCode.ERROR, f"{self.prog}: error: {message}\n")


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="trainaudit", description="Tell whether an ML project's claimed training is real.")
    p.add_argument("--version", action="version", version=f"trainaudit {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    a = sub.add_parser("audit", help="audit a project directory (never runs its code)")
    a.add_argument("path", nargs="?", default=".", help="project directory (default: .)")
    a.add_argument("--spec", help="spec file (TOML); default: trainaudit.toml or [tool.trainaudit]")
    a.add_argument("--format", "-f", choices=AUDIT_FORMATS, default="text")
    a.add_argument("--output", "-o", help="write the report to FILE instead of standard output")
    a.add_argument("--select", action="append", metavar="RULES",
                   help="only these rules (slugs or codes, comma-separated)")
    a.add_argument("--ignore", action="append", metavar="RULES",
                   help="skip these rules (slugs or codes, comma-separated)")
    a.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="colour in text output")
    a.add_argument("--jobs", "-j", type=_positive, metavar="N",
                   help="processes to parse with (default: one per available CPU; 1: this process only)")
    a.set_defaults(func=cmd_audit)

    c = sub.add_parser("claims", help="check status documents against themselves (and a repository)")
    c.add_argument("files", nargs="+", metavar="FILE", help="Markdown or text status documents")
    c.add_argument("--repo", help="repository to hold the claims against (files, tests, stubs, mocks)")
    c.add_argument("--run-tests", action="store_true", help="also run the repository's pytest suite to count tests")
    c.add_argument("--format", "-f", choices=("text", "json", "markdown"), default="text")
    c.add_argument("--output", "-o", help="write the result to FILE instead of standard output")
    c.set_defaults(func=cmd_claims)

    lg = sub.add_parser("logs", help="show every scalar series in training logs (TensorBoard, CSV, MLflow, ...)")
    lg.add_argument("path", help="a log file or a folder to search")
    lg.add_argument("--format", "-f", choices=("text", "json"), default="text")
    lg.set_defaults(func=cmd_logs)

    ck = sub.add_parser("ckpt", help="list a checkpoint's tensors, parameters, metadata and safety (never unpickles)")
    ck.add_argument("file", help=".pt/.pth/.ckpt/.safetensors/.bin or a sharded *.index.json")
    ck.add_argument("--format", "-f", choices=("text", "json"), default="text")
    ck.set_defaults(func=cmd_ckpt)

    r = sub.add_parser("rules", help="list every rule: code, slug, severity, description")
    r.add_argument("--format", "-f", choices=("text", "json"), default="text")
    r.set_defaults(func=cmd_rules)

    t = sub.add_parser("run", help="run a few real training steps under instrumentation; write .trainaudit/trace.json",
                       usage="trainaudit run [--steps N] [--timeout S] [--out DIR] -- python SCRIPT ARGS... | "
                             "-- python -m MODULE ARGS... | --model pkg.module:factory [--batch pkg.module:fn]")
    t.add_argument("--steps", type=int, default=5, help="stop after N optimizer steps (default: 5)")
    t.add_argument("--timeout", type=float, default=600.0, help="stop the run after S seconds (default: 600)")
    t.add_argument("--out", metavar="DIR", help="write trace.json to DIR (default: ./.trainaudit)")
    t.add_argument("--model", help="smoke mode: a factory returning the model, pkg.module:factory")
    t.add_argument("--batch", help="smoke mode: a function returning one batch, pkg.module:batch_fn")
    t.add_argument("command", nargs=argparse.REMAINDER, help="-- python SCRIPT ARGS... or -- python -m MODULE ...")
    t.set_defaults(func=cmd_run)
    return p


def _write(text: str, output: str | None) -> None:
    """Standard output, or the file whole or not at all."""
    if output is None:
        sys.stdout.write(text)
        return
    from trainaudit.atomic import write_text_atomic

    write_text_atomic(Path(output), text)


def _progress(enabled: bool):
    if not enabled:
        return None

    def show(msg: str) -> None:
        sys.stderr.write(f"\r\033[K{msg}")
        sys.stderr.flush()

    return show


def cmd_audit(args: argparse.Namespace) -> int:
    from trainaudit.engine import AuditError, run_audit
    from trainaudit.report import render

    tty = sys.stderr.isatty()
    try:
        report = run_audit(args.path, spec_file=args.spec, select=_split(args.select),
                           ignore=_split(args.ignore), progress=_progress(tty), jobs=args.jobs,
                           release=not args.exiting)
    except AuditError as exc:
        print(f"trainaudit: error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    finally:
        if tty:
            sys.stderr.write("\r\033[K")
    color = args.color == "always" or (args.color == "auto" and args.output is None and sys.stdout.isatty()
                                       and "NO_COLOR" not in os.environ)
    try:
        _write(render(report, args.format, color=color), args.output)
    except OSError as exc:
        print(f"trainaudit: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return ExitCode.ERROR
    return report.exit_code


def cmd_claims(args: argparse.Namespace) -> int:
    from trainaudit.claims.checks import check_documents
    from trainaudit.claims.render import render_claims

    missing = [f for f in args.files if not Path(f).is_file()]
    if missing or (args.repo and not Path(args.repo).is_dir()):
        what = ", ".join(missing) if missing else f"repository {args.repo}"
        print(f"trainaudit: error: not found: {what}", file=sys.stderr)
        return ExitCode.ERROR
    result = check_documents([Path(f) for f in args.files], repo=Path(args.repo) if args.repo else None,
                             run_tests=args.run_tests)
    try:
        _write(render_claims(result, args.format), args.output)
    except OSError as exc:
        print(f"trainaudit: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return ExitCode.ERROR
    errors = [i for i in result.issues if (i.severity or "error") == "error"]
    return ExitCode.INVALID if errors else ExitCode.VALID


def cmd_logs(args: argparse.Namespace) -> int:
    from trainaudit.logs_cli import render_logs

    if not Path(args.path).exists():
        print(f"trainaudit: error: {args.path}: no such file or directory", file=sys.stderr)
        return ExitCode.ERROR
    sys.stdout.write(render_logs(args.path, args.format))
    return ExitCode.VALID


def cmd_ckpt(args: argparse.Namespace) -> int:
    from trainaudit.ckpt_cli import render_ckpt

    if not Path(args.file).is_file():
        print(f"trainaudit: error: {args.file}: no such file", file=sys.stderr)
        return ExitCode.ERROR
    sys.stdout.write(render_ckpt(args.file, args.format))
    return ExitCode.VALID


def cmd_rules(args: argparse.Namespace) -> int:
    from trainaudit.rules.registry import all_rules

    rules = all_rules()
    if args.format == "json":
        import json

        rows = [{"code": r.code, "slug": r.slug, "family": r.family, "severity": r.severity.value,
                 "summary": r.summary} for r in rules]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return ExitCode.VALID
    width = max(len(r.slug) for r in rules)
    for r in rules:
        sys.stdout.write(f"{r.code}  {r.slug:<{width}}  {r.severity.value:<7}  {r.summary}\n")
    return ExitCode.VALID


def cmd_run(args: argparse.Namespace) -> int:
    from trainaudit.tracer.launch import UsageError, run

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        trace, path = run(command, steps=args.steps, timeout=args.timeout, out=args.out, model=args.model,
                          batch=args.batch)
    except UsageError as exc:
        print(f"trainaudit run: error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    print(f"trainaudit run: {trace.status} (exit status {trace.exit_status}), {len(trace.steps)} optimizer step(s), "
          f"trace written to {path}", file=sys.stderr)
    return ExitCode.VALID


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    """Run one command; `exiting`: the process ends right after (see entry_point)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.exiting = exiting
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return ExitCode.ERROR
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("trainaudit: interrupted", file=sys.stderr)
        return ExitCode.ERROR
    except Exception as exc:  # noqa: BLE001  an internal error is reported, never dumped as a traceback
        if os.environ.get("TRAINAUDIT_DEBUG"):
            raise
        print(f"trainaudit: internal error: {type(exc).__name__}: {exc} (set TRAINAUDIT_DEBUG=1 for details)",
              file=sys.stderr)
        return ExitCode.ERROR


def entry_point() -> NoReturn:
    """The `trainaudit` command: main(), then an exit that leaves the audit's memory to the operating system
    (no object-by-object freeing, no interpreter teardown), once the output is flushed."""
    code = main(exiting=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: what was written is all the reader wanted
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry_point()
