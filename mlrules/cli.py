"""The ``mlrules`` command line (contract: CLI.md). Commands only: the work is in the engine."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter

import click

from mlrules import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, like shells and Ruff


def _codes(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _lint_options(func):
    options = [
        click.argument("paths", nargs=-1, type=click.Path()),
        click.option("--select", help="Comma-separated codes or prefixes to enable (replaces the configuration)."),
        click.option("--extend-select", help="Codes or prefixes to enable in addition."),
        click.option("--ignore", help="Codes or prefixes to disable."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file to use."),
        click.option("--output-format", type=click.Choice(["full", "concise", "json", "sarif", "github"]), default="full", show_default=True),
        click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain."),
        click.option("--statistics", is_flag=True, help="Print a count of findings per rule instead of the findings."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the result cache."),
        click.option("--show-fixes", is_flag=True, help="Show the fix of each finding."),
        click.option("--unsafe-fixes", is_flag=True, help="Also apply (or show) unsafe fixes."),
        click.option("--diff", is_flag=True, help="With fixes: print a unified diff, write nothing."),
        click.option("-q", "--quiet", is_flag=True, help="Print findings only: no summary, no notes (errors still go to stderr)."),
        click.option("-v", "--verbose", is_flag=True, help="Also print the configuration used, the rules, skipped files and timing (stderr)."),
        click.option(
            "--stdin-filename", metavar="PATH",
            help="Read the file from standard input (an editor's unsaved buffer) and lint it as PATH, in its project on disk. "
            "With fixes, the fixed content goes to stdout and the report to stderr.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="mlrules")
def main() -> None:
    """mlrules: lint and fix machine-learning projects on Databricks (notebooks + Asset Bundles)."""


@main.command()
@_lint_options
@click.option("--fix", "apply_fixes", is_flag=True, help="Apply safe fixes (and unsafe ones with --unsafe-fixes).")
def check(apply_fixes: bool, **kwargs) -> None:
    """Lint files and folders (default: the current folder)."""
    sys.exit(_interruptible(lambda: _run(fix=apply_fixes or kwargs["diff"], **kwargs)))


@main.command()
@_lint_options
def fix(**kwargs) -> None:
    """Apply fixes, then report what is left."""
    sys.exit(_interruptible(lambda: _run(fix=True, **kwargs)))


def _interruptible(run) -> int:
    """``run()``; Ctrl-C (SIGINT) ends it with "interrupted" and exit code 130. Files are never
    left half-written: the write path holds the signal back while a file is being replaced."""
    import signal

    previous = signal.getsignal(signal.SIGINT)
    installed = False
    if previous is not signal.SIG_IGN:  # a SIGINT ignored by the parent (nohup, `&`) stays ignored
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            installed = True
        except ValueError:  # not the main thread
            pass
    try:
        return run()
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return EXIT_INTERRUPTED
    finally:
        if installed:
            signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _run(
    *, fix: bool, paths, select, extend_select, ignore, config_path, output_format, exit_zero, statistics, no_cache, show_fixes,
    unsafe_fixes, diff, quiet, verbose, stdin_filename,
) -> int:
    from mlrules.engine.config import ConfigError, expand_selectors, load_settings
    from mlrules.engine.fixer import fix_files, unified_diff, write_atomic
    from mlrules.engine.runner import Linter
    from mlrules.model import FileError
    from mlrules.output import Report, render

    started = time.perf_counter()
    try:
        settings = load_settings(config_path)
        if select is not None:
            settings.select = _codes(select)
            expand_selectors(settings.select, "--select")
        if extend_select is not None:
            settings.extend_select = settings.extend_select + _codes(extend_select)
            expand_selectors(settings.extend_select, "--extend-select")
        if ignore is not None:
            settings.ignore = settings.ignore + _codes(ignore)
            expand_selectors(settings.ignore, "--ignore")
        linter = Linter(settings)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR
    if verbose:
        where = settings.config_path or "none found, using the defaults"
        _note(f"configuration: {where}")
        _note(f"rules: {', '.join(sorted(linter.selected))}")

    stdin_data = None
    if stdin_filename is not None:
        if any(p != "-" for p in paths):
            click.echo("error: --stdin-filename lints standard input only: give no other paths", err=True)
            return EXIT_ERROR
        stdin_data = sys.stdin.buffer.read()
        loaded = linter.load_stdin(stdin_filename, stdin_data)
    elif "-" in paths:
        click.echo("error: '-' (standard input) needs --stdin-filename PATH: the file's name says its kind and project", err=True)
        return EXIT_ERROR
    else:
        loaded = linter.load(list(paths) or ["."])
    # fixing stdin: the fixed content is the output (an editor replaces its buffer with it)
    content_out = stdin_data is not None and fix and not diff
    report_to_stderr = content_out
    checked = len(loaded.sources) + len(loaded.problems)
    fixed_count = 0
    would_fix = 0
    messages: list[str] = []
    diff_nonempty = False
    if fix:
        originals = dict(loaded.original_bytes)
        outcome = fix_files(linter, loaded, unsafe_fixes)
        result = outcome.result
        messages.extend(outcome.messages)
        if content_out:
            fixed = outcome.new_bytes.get(stdin_filename)
            fixed_count = outcome.fixed.get(stdin_filename, 0) if fixed is not None else 0
            sys.stdout.buffer.write(fixed if fixed is not None else stdin_data)
            sys.stdout.buffer.flush()
        for path, data in sorted(outcome.new_bytes.items()):
            if content_out:
                break
            if diff:
                text = unified_diff(path, originals[path], data)
                if text:
                    diff_nonempty = True
                    would_fix += outcome.fixed.get(path, 0)
                    click.echo(text, nl=False)
                continue
            problem = write_atomic(path, data, originals[path])
            if problem:
                result.errors.append(FileError(path, problem.removeprefix(f"{path}: ")))
            else:
                fixed_count += outcome.fixed.get(path, 0)
    else:
        from mlrules.engine.cache import Cache

        cache = None if no_cache or stdin_data is not None else Cache(os.path.join(settings.root, settings.cache_dir))
        result = linter.lint(loaded, cache=cache, drop_trees=True)

    for message in messages:
        click.echo(f"warning: {message}", err=True)
    if verbose:
        for notice in result.notices:
            _note(notice)
    for error in result.errors:
        click.echo(f"error: {error.path}: {error.message}", err=True)

    text_format = output_format in ("full", "concise")
    if diff:
        if would_fix and not quiet:
            click.echo(f"Would fix {_plural(would_fix, 'finding')}.", err=True)
    else:
        report = Report(result.findings, dict(loaded.sources), fixed_count, show_fixes, unsafe_fixes)
        if statistics:
            click.echo(_statistics(result.findings, unsafe_fixes, as_json=output_format == "json"), nl=False, err=report_to_stderr)
        else:
            text = render(output_format, report)
            if output_format == "full" and text and not report_to_stderr and _stdout_is_tty():
                _print_rich(text)
            else:
                click.echo(text, nl=False, err=report_to_stderr)
        if text_format and not quiet:
            if result.findings and not statistics and output_format == "full":
                click.echo("", err=report_to_stderr)
            click.echo(_summary(result.findings, fixed_count, unsafe_fixes, fix), err=report_to_stderr)
    if verbose:
        _note(f"checked {_plural(checked, 'file')} in {time.perf_counter() - started:.2f}s")

    if result.errors:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_OK
    if diff:
        return EXIT_FINDINGS if diff_nonempty else EXIT_OK
    return EXIT_FINDINGS if result.findings else EXIT_OK


def _note(text: str) -> None:
    click.echo(f"note: {text}", err=True)


def _plural(n: int, word: str) -> str:
    plural = word + ("es" if word.endswith(("x", "s")) else "s")
    return f"{n} {word if n == 1 else plural}"


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


_HEAD = re.compile(r"^(?P<loc>\S.*?:(?:cell \d+:)?\d+:\d+:) (?P<code>[A-Z]+[0-9]+) (?P<msg>.*?)(?P<fix> \[\*\]| \[unsafe fix\])?$")
_GUTTER = re.compile(r"^(?P<gutter>\s*\d* \|)(?P<rest>.*)$")


def _print_rich(text: str, console=None) -> None:
    """The ``full`` format with colours, for a terminal (rich honours NO_COLOR and TERM=dumb)."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console(highlight=False, soft_wrap=True, emoji=False, markup=False)
    for line in text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"):
        head = _HEAD.match(line)
        gutter = _GUTTER.match(line)
        if head:
            styled = Text.assemble((head["loc"], "bold"), " ", (head["code"], "bold red"), " ", head["msg"], (head["fix"] or "", "cyan"))
        elif gutter:
            rest = gutter["rest"]
            caret = rest.strip() != "" and rest.strip(" ^") == ""
            styled = Text.assemble((gutter["gutter"], "blue"), (rest, "bold red" if caret else ""))
        elif line.lstrip().startswith("= fix"):
            styled = Text(line, style="cyan")
        else:
            styled = Text(line)
        console.print(styled)


def _statistics(findings, unsafe: bool, *, as_json: bool = False) -> str:
    """Ruff's ``--statistics``: one row per code, most frequent first, instead of the findings."""
    import json

    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fixable = {f.code for f in findings if f.fix is not None and (unsafe or f.fix.applicability.value == "safe")}
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if as_json:
        rows = [{"code": code, "name": names[code], "count": n, "fixable": code in fixable} for code, n in order]
        return json.dumps(rows, indent=2) + "\n"
    width = max((len(str(n)) for n in counts.values()), default=1)
    code_width = max((len(code) for code in counts), default=1)
    lines = [f"{n:>{width}}\t{code:<{code_width}}\t{'[*]' if code in fixable else '[ ]'} {names[code]}" for code, n in order]
    return "\n".join(lines) + ("\n" if lines else "")


def _summary(findings, fixed: int, unsafe: bool, fixing: bool) -> str:
    """Ruff-style closing lines: totals, then what ``mlrules fix`` (or ``--unsafe-fixes``) would do."""
    remaining = len(findings)
    if fixing and fixed:
        lines = [f"Found {_plural(fixed + remaining, 'finding')} ({fixed} fixed, {remaining} remaining)."]
    elif remaining:
        lines = [f"Found {_plural(remaining, 'finding')}."]
    else:
        return "All checks passed!"
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability.value == "safe")
    unsafe_n = sum(1 for f in findings if f.fix is not None and f.fix.applicability.value == "unsafe")
    fixable = 0 if fixing else safe + (unsafe_n if unsafe else 0)
    hidden = 0 if unsafe else unsafe_n
    if fixable:
        lines.append(f"[*] {fixable} fixable with `mlrules fix{' --unsafe-fixes' if unsafe else ''}`.")
    if hidden and fixable:
        lines.append(f"({_plural(hidden, 'hidden fix')} can be enabled with `--unsafe-fixes`.)")
    elif hidden:
        lines.append(f"No fixes available ({_plural(hidden, 'hidden fix')} can be enabled with `--unsafe-fixes`).")
    return "\n".join(lines)


@main.command("rules")
@click.option("--output-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules_command(output_format: str) -> None:
    """List every rule: code, name, default on/off, fix availability."""
    import json

    from mlrules.rules import all_rules

    rows = [
        {
            "code": r.code,
            "name": r.name,
            "default": r.default_enabled,
            "fix": r.fix.value if r.fix is not None else None,
            "severity": r.severity.value,
            "summary": r.summary,
        }
        for r in all_rules()
    ]
    if output_format == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    name_width = max([len("name")] + [len(r["name"]) for r in rows])
    click.echo(f"{'code':<7} {'name':<{name_width}} {'default':<7} {'fix':<7} summary")
    for row in rows:
        fix = row["fix"] or "-"
        click.echo(f"{row['code']:<7} {row['name']:<{name_width}} {'on' if row['default'] else 'off':<7} {fix:<7} {row['summary']}")


@main.command()
@click.argument("code")
def explain(code: str) -> None:
    """Show a rule's documentation."""
    from mlrules.rules import rule_by_code

    rule = rule_by_code(code)
    if rule is None:
        click.echo(f"error: unknown rule code {code!r}", err=True)
        sys.exit(EXIT_ERROR)
    fix = rule.fix.value if rule.fix is not None else "none"
    click.echo(f"# {rule.code} {rule.name}\n")
    click.echo(f"Default: {'on' if rule.default_enabled else 'off'} | Severity: {rule.severity.value} | Fix: {fix}\n")
    click.echo(rule.docs())
    if rule.options:
        click.echo("\n## Options\n")
        for opt in rule.options:
            click.echo(f"- `{opt.name}` (default {opt.default!r}): {opt.help}")
