"""The ``mlrules`` command line (contract: CLI.md). Commands only: the work is in the engine."""

from __future__ import annotations

import os
import sys
from collections import Counter

import click

from mlrules import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


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
        click.option("--statistics", is_flag=True, help="Print a count of findings per rule."),
        click.option("--no-cache", is_flag=True, help="Do not read or write the result cache."),
        click.option("--show-fixes", is_flag=True, help="Show the fix of each finding."),
        click.option("--unsafe-fixes", is_flag=True, help="Also apply (or show) unsafe fixes."),
        click.option("--diff", is_flag=True, help="With fixes: print a unified diff, write nothing."),
        click.option("-q", "--quiet", is_flag=True, help="Print findings only."),
        click.option("-v", "--verbose", is_flag=True, help="Also print skipped files and notices."),
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
    sys.exit(_run(fix=apply_fixes or kwargs["diff"], **kwargs))


@main.command()
@_lint_options
def fix(**kwargs) -> None:
    """Apply fixes, then report what is left."""
    sys.exit(_run(fix=True, **kwargs))


def _run(*, fix: bool, paths, select, extend_select, ignore, config_path, output_format, exit_zero, statistics, no_cache, show_fixes, unsafe_fixes, diff, quiet, verbose) -> int:
    from mlrules.engine.config import ConfigError, expand_selectors, load_settings
    from mlrules.engine.fixer import fix_files, unified_diff, write_atomic
    from mlrules.engine.runner import Linter
    from mlrules.output import Report, render

    err = click.get_text_stream("stderr")
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

    loaded = linter.load(list(paths) or ["."])
    fixed_count = 0
    messages: list[str] = []
    diff_nonempty = False
    if fix:
        originals = dict(loaded.original_bytes)
        outcome = fix_files(linter, loaded, unsafe_fixes)
        result = outcome.result
        messages.extend(outcome.messages)
        for path, data in sorted(outcome.new_bytes.items()):
            if diff:
                text = unified_diff(path, originals[path], data)
                if text:
                    diff_nonempty = True
                    click.echo(text, nl=False)
                continue
            problem = write_atomic(path, data, originals[path])
            if problem:
                messages.append(problem)
                result.errors.append(_file_error(path, problem))
            else:
                fixed_count += outcome.fixed.get(path, 0)
    else:
        result = linter.lint(loaded)

    for message in messages:
        click.echo(f"warning: {message}", err=True)
    if verbose:
        for notice in result.notices:
            click.echo(f"note: {notice}", err=True)
    for error in result.errors:
        click.echo(f"error: {error.path}: {error.message}", err=True)

    if not diff:
        report = Report(result.findings, dict(loaded.sources), fixed_count, show_fixes, unsafe_fixes)
        text = render(output_format, report)
        if output_format == "full" and sys.stdout.isatty():
            _print_rich(text)
        else:
            click.echo(text, nl=False)
        if statistics:
            click.echo(_statistics(result.findings, unsafe_fixes), nl=False)
        if output_format in ("full", "concise") and not quiet:
            click.echo(_summary(result.findings, fixed_count, unsafe_fixes, fix))

    if result.errors:
        return EXIT_ERROR
    if exit_zero:
        return EXIT_OK
    if diff:
        return EXIT_FINDINGS if diff_nonempty else EXIT_OK
    return EXIT_FINDINGS if result.findings else EXIT_OK


def _file_error(path: str, message: str):
    from mlrules.model import FileError

    return FileError(path, message)


def _print_rich(text: str) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    for line in text.splitlines():
        styled = Text(line)
        if line and not line.startswith((" ", "|")) and ": " in line and not line[0].isdigit():
            head, _, rest = line.partition(": ")
            styled = Text.assemble((head, "bold"), ": ", _code_styled(rest))
        elif "^" in line and line.strip(" |^") == "":
            styled = Text(line, style="red")
        console.print(styled)


def _code_styled(rest: str):
    from rich.text import Text

    code, _, message = rest.partition(" ")
    return Text.assemble((code, "bold red"), " ", message)


def _statistics(findings, unsafe: bool) -> str:
    counts = Counter(f.code for f in findings)
    names = {f.code: f.name for f in findings}
    fixable = {f.code for f in findings if f.fix is not None and (unsafe or f.fix.applicability.value == "safe")}
    lines = [f"{n:>5}  {code:<7} {names[code]}{' [*]' if code in fixable else ''}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return "\n".join(lines) + ("\n" if lines else "")


def _summary(findings, fixed: int, unsafe: bool, fixing: bool) -> str:
    parts = []
    if fixed:
        parts.append(f"Fixed {fixed} finding{'s' if fixed != 1 else ''}.")
    if not findings:
        parts.append("All checks passed!")
        return " ".join(parts)
    parts.append(f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''}.")
    safe = sum(1 for f in findings if f.fix is not None and f.fix.applicability.value == "safe")
    unsafe_n = sum(1 for f in findings if f.fix is not None and f.fix.applicability.value == "unsafe")
    if safe and not fixing:
        parts.append(f"[*] {safe} fixable with `mlrules fix`.")
    if unsafe_n and not unsafe:
        parts.append(f"({unsafe_n} more with `--unsafe-fixes`.)")
    return "\n".join(parts)


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
    for row in rows:
        fix = row["fix"] or "-"
        click.echo(f"{row['code']:<7} {row['name']:<38} {'on' if row['default'] else 'off':<4} {fix:<7} {row['summary']}")


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
