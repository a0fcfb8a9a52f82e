from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

import yaml

from mlrules.model import Applicability, Edit
from mlrules.project.bundle import iter_jobs, iter_tasks
from mlrules.rules.base import Invalid, Valid, YamlRule
from mlrules.sources.yaml_edit import (
    CommentScanError,
    comments_in,
    content_end,
    indent_step,
    is_block,
    line_end,
    line_start,
    next_line_start,
    render_scalar,
    starts_line,
    style_of,
)
from mlrules.sources.yaml_source import mapping_get, mapping_pair

_LONG_FLAG = re.compile(r"--([A-Za-z_][\w.\-]*)(?:=(.*)|\s+(.*))?", re.S)
_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?")


def _task(notebook_task: str, *, head: str = "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n") -> str:
    return head + "".join("          " + line + "\n" for line in notebook_task.split("\n"))


class NotebookTaskCliParameters(YamlRule):
    """
    ## What it does
    Flags `notebook_task.parameters` written as command-line flags: a list of `--flag value`
    / `--flag=value` strings (`parameters: ["--catalog", "ml_dev"]`), or a mapping whose keys
    are `--flag`s. Jobs, target overrides and `for_each_task.task` are checked. The finding
    points at the `parameters` key.

    A `parameters` list or mapping without any `-flag` is a plain unknown field, left to
    BND008.

    ## Why it matters
    A notebook task has no `parameters` field and no command line: it takes `base_parameters`,
    a name -> value mapping that the notebook reads with `dbutils.widgets.get("catalog")`.
    Copied from a `spark_python_task`, CLI-style parameters reach nothing (or are rejected
    by `bundle validate`), and the notebook silently runs with its widget defaults, e.g.
    against the dev catalog in production.

    ## Example
    ```yaml
    notebook_task:
      notebook_path: ../notebooks/train_model.py
      parameters: ["--catalog", "${var.catalog}", "--run-id={{job.run_id}}"]
    ```

    ## Use instead
    ```yaml
    notebook_task:
      notebook_path: ../notebooks/train_model.py
      base_parameters:
        catalog: ${var.catalog}
        run-id: "{{job.run_id}}"
    ```

    ## Fix safety
    Safe. The `parameters` entry is rewritten into a block-style `base_parameters` mapping at
    the same indentation; names lose their leading `--` and are otherwise kept as written
    (`--run-id` becomes `run-id`, not argparse's `run_id`: the widget names must match).
    Values keep their quoting; values that YAML would misread (`{{job.run_id}}`, `10`,
    `true`) are double-quoted so they stay strings. Comments inside the rewritten entry move
    with the entries; everything else in the file is kept byte for byte (CRLF included).
    When the task already has `base_parameters`, the converted names are merged into it and
    its existing keys win (a converted flag with the same name is dropped).

    No fix (the finding alone) when the conversion is ambiguous: a flag without a value
    (`--verbose` last or followed by another flag), a positional value, a short flag (`-c`),
    a repeated name, a non-string value, a flow-style `notebook_task`, or keys that come
    from a `<<:` merge.
    """

    code = "BND003"
    name = "notebook-task-cli-parameters"
    summary = "`notebook_task.parameters` with CLI flags instead of `base_parameters`"
    fix = Applicability.SAFE
    triggers = ("parameters",)

    invalid = (
        # block list, pairs
        Invalid(
            _task("notebook_task:\n  notebook_path: ../notebooks/train.py\n  parameters:\n    - --catalog\n    - ml_dev\n    - --schema\n    - churn"),
            8, 13, path="resources/job.yml",
            fixed=_task("notebook_task:\n  notebook_path: ../notebooks/train.py\n  base_parameters:\n    catalog: ml_dev\n    schema: churn"),
        ),
        # flow list with ${var.x}, {{job.run_id}} and --flag=value; trailing comment kept
        Invalid(
            _task('notebook_task:\n  notebook_path: ../nb.py\n  parameters: ["--catalog", "${var.catalog}", "--run_id={{job.run_id}}", --epochs, 10]  # CLI style\ntimeout_seconds: 60'),
            8, 13, path="resources/job.yml",
            fixed=_task('notebook_task:\n  notebook_path: ../nb.py\n  base_parameters:\n    catalog: "${var.catalog}"\n    run_id: "{{job.run_id}}"\n    epochs: "10"  # CLI style\ntimeout_seconds: 60'),
        ),
        # indentation of 4, single-quoted values kept, comments inside move with their entry
        Invalid(
            "resources:\n    jobs:\n        j:\n            tasks:\n                -   task_key: t\n                    notebook_task:\n"
            "                        notebook_path: ../nb.py\n                        parameters:  # from the old script\n"
            "                        # which catalog\n                        - '--catalog'\n                        - 'ml_dev'  # dev!\n"
            "                        - \"--table=feature's\"\n                    max_retries: 1\n",
            8, 25, path="resources/job.yml",
            fixed="resources:\n    jobs:\n        j:\n            tasks:\n                -   task_key: t\n                    notebook_task:\n"
            "                        notebook_path: ../nb.py\n                        base_parameters:  # from the old script\n"
            "                            # which catalog\n                            catalog: 'ml_dev'  # dev!\n"
            "                            table: feature's\n                    max_retries: 1\n",
        ),
        # mapping with --flag keys; merged into existing base_parameters (existing keys win)
        Invalid(
            _task("notebook_task:\n  notebook_path: ../nb.py\n  base_parameters:\n    catalog: ml_prod  # keep\n  parameters:\n    --catalog: ml_dev\n    --model-name: churn\n# end"),
            10, 13, path="resources/job.yml",
            fixed=_task("notebook_task:\n  notebook_path: ../nb.py\n  base_parameters:\n    catalog: ml_prod  # keep\n    model-name: churn\n# end"),
            message_contains="base_parameters",
        ),
        # parameters before an existing base_parameters; "--flag value" strings
        Invalid(
            _task("notebook_task:\n  parameters: ['--env prod', '--date={{job.start_time.iso_date}}']\n  base_parameters:\n    catalog: x\n  notebook_path: ../nb.py"),
            7, 13, path="resources/job.yml",
            fixed=_task("notebook_task:\n  base_parameters:\n    catalog: x\n    env: prod\n    date: '{{job.start_time.iso_date}}'\n  notebook_path: ../nb.py"),
        ),
        # existing flow-style base_parameters is rewritten in block style
        Invalid(
            _task('notebook_task:\n  notebook_path: ../nb.py\n  base_parameters: {catalog: "x"}\n  parameters: [--schema, s]'),
            9, 13, path="resources/job.yml",
            fixed=_task('notebook_task:\n  notebook_path: ../nb.py\n  base_parameters:\n    catalog: "x"\n    schema: s'),
        ),
        # CRLF, target override, for_each_task
        Invalid(
            "bundle:\r\n  name: b\r\ntargets:\r\n  prod:\r\n    resources:\r\n      jobs:\r\n        j:\r\n          tasks:\r\n"
            "            - task_key: loop\r\n              for_each_task:\r\n                inputs: '[\"a\", \"b\"]'\r\n"
            "                task:\r\n                  task_key: inner\r\n                  notebook_task:\r\n"
            "                    notebook_path: ../nb.py\r\n                    parameters:\r\n"
            "                      - --region\r\n                      - \"{{input}}\"\r\n",
            16, 21, path="databricks.yml",
            fixed="bundle:\r\n  name: b\r\ntargets:\r\n  prod:\r\n    resources:\r\n      jobs:\r\n        j:\r\n          tasks:\r\n"
            "            - task_key: loop\r\n              for_each_task:\r\n                inputs: '[\"a\", \"b\"]'\r\n"
            "                task:\r\n                  task_key: inner\r\n                  notebook_task:\r\n"
            "                    notebook_path: ../nb.py\r\n                    base_parameters:\r\n"
            "                      region: \"{{input}}\"\r\n",
        ),
        # anchored notebook_task reused through an alias: one finding, fixed at the anchor
        Invalid(
            "resources:\n  jobs:\n    a:\n      tasks:\n        - task_key: t\n          notebook_task: &nb\n"
            "            notebook_path: ../nb.py\n            parameters: [--x, '1']\n    b:\n      tasks:\n"
            "        - task_key: t\n          notebook_task: *nb\n",
            8, 13, path="resources/job.yml",
            fixed="resources:\n  jobs:\n    a:\n      tasks:\n        - task_key: t\n          notebook_task: &nb\n"
            "            notebook_path: ../nb.py\n            base_parameters:\n              x: '1'\n    b:\n      tasks:\n"
            "        - task_key: t\n          notebook_task: *nb\n",
        ),
        # ambiguous: a bare flag at the end -> no fix
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [--catalog, x, --verbose]"), 8, 13, path="resources/job.yml", fixed=None),
        # ambiguous: two flags in a row, a positional value, a short flag, a repeated name
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [--dry-run, --catalog, x]"), 8, 13, path="resources/job.yml", fixed=None),
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [--catalog, x, extra]"), 8, 13, path="resources/job.yml", fixed=None),
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [-c, x]"), 8, 13, path="resources/job.yml", fixed=None),
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [--t, a, --t, b]"), 8, 13, path="resources/job.yml", fixed=None),
        # mapping flag without a value
        Invalid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters:\n    --debug:\n    --catalog: x"), 8, 13, path="resources/job.yml", fixed=None),
        # flow-style notebook_task -> no fix
        Invalid(_task("notebook_task: {notebook_path: ../nb.py, parameters: [--catalog, x]}"), 6, 52, path="resources/job.yml", fixed=None),
        # parameters merged in from an anchor while base_parameters is the task's own -> no fix
        Invalid(
            "x-nb: &nb\n  parameters: [--catalog, x]\n" + _task("notebook_task:\n  <<: *nb\n  notebook_path: ../nb.py\n  base_parameters: {schema: s}"),
            2, 3, path="resources/job.yml", fixed=None,
        ),
    )
    valid = (
        Valid(_task("notebook_task:\n  notebook_path: ../nb.py\n  base_parameters:\n    catalog: ${var.catalog}"), path="resources/job.yml"),
        # spark_python_task and python_wheel_task take CLI parameters
        Valid(_task("spark_python_task:\n  python_file: ../train.py\n  parameters: [--catalog, x]"), path="resources/job.yml"),
        Valid(_task("python_wheel_task:\n  package_name: churn\n  entry_point: main\n  parameters: ['--catalog', 'x']"), path="resources/job.yml"),
        # job-level parameters are fine
        Valid(
            "resources:\n  jobs:\n    j:\n      parameters:\n        - name: catalog\n          default: x\n"
            "      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: ../nb.py\n",
            path="resources/job.yml",
        ),
        # parameters without flags are BND008's business; an unknown value is not judged
        Valid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [catalog, x]"), path="resources/job.yml"),
        Valid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: ${var.params}"), path="resources/job.yml"),
        # not a bundle file
        Valid("steps:\n  - notebook_task:\n      parameters: [--catalog, x]\n", path="ci/pipeline.yml"),
        # suppressed
        Valid(_task("notebook_task:\n  notebook_path: ../nb.py\n  parameters: [--catalog, x]  # noqa: BND003"), path="resources/job.yml"),
    )

    def check(self, ctx):
        seen: set[int] = set()
        for nb_key, nb in _notebook_tasks(ctx.root):
            pair = mapping_pair(nb, "parameters")
            if pair is None or id(pair[0]) in seen:
                continue
            seen.add(id(pair[0]))
            key, value = pair
            flags = _flag_names(value)
            if not flags:
                continue
            shown = ", ".join(flags[:3]) + (", ..." if len(flags) > 3 else "")
            message = (
                f"`notebook_task.parameters` passes command-line flags ({shown}); a notebook task takes "
                "`base_parameters` (name: value, read with dbutils.widgets.get)"
            )
            edits: tuple[Edit, ...] = ()
            fix_message = ""
            try:
                plan = _plan(ctx.source.text, nb_key, nb, key, value)
            except (_NoFix, CommentScanError):
                plan = None
            if plan is not None:
                edits, dropped = plan
                fix_message = "Rewrite as `base_parameters`"
                if dropped:
                    fix_message += f" (existing base_parameters win over {', '.join(dropped)})"
            yield self.finding(ctx.path, ctx.span(key), message, edits=edits, fix_message=fix_message)


def _notebook_tasks(root) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    for job in iter_jobs(root):
        for task in iter_tasks(job.node):
            for t in (task, mapping_get(mapping_get(task, "for_each_task"), "task")):
                pair = mapping_pair(t, "notebook_task")
                if pair is not None and isinstance(pair[1], yaml.MappingNode):
                    yield pair


def _flag_names(value: yaml.Node) -> list[str]:
    """Names of the ``-flag`` items (list) or keys (mapping); empty when it is not CLI-style."""
    if isinstance(value, yaml.SequenceNode):
        words = [item.value for item in value.value if isinstance(item, yaml.ScalarNode) and not item.tag.endswith(":null")]
    elif isinstance(value, yaml.MappingNode):
        words = [k.value for k, _ in value.value if isinstance(k, yaml.ScalarNode)]
    else:
        return []
    names = []
    for word in words:
        word = str(word)
        bare = word.lstrip("-")
        if word.startswith("-") and (bare[:1].isalpha() or bare[:1] == "_"):
            names.append(re.split(r"[=\s]", word, maxsplit=1)[0])
    return names


# --- the fix ------------------------------------------------------------------------------------
class _NoFix(Exception):
    pass


@dataclass
class _Entry:
    name: str
    value: str  # rendered YAML scalar
    first_row: int
    last_row: int
    before: list[str] = field(default_factory=list)  # own-line comments
    trailing: str | None = None


def _row(node: yaml.Node) -> int:
    return node.start_mark.line


def _value_text(text: str, node: yaml.Node) -> str:
    """A value node as a block-mapping value: quoted scalars keep their text, plain ones are
    re-checked (and double-quoted when YAML would read them as something else)."""
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null") or node.style in ("|", ">"):
        raise _NoFix("not a string value")
    if style_of(node) and node.start_mark.line == node.end_mark.line:
        return text[node.start_mark.index : node.end_mark.index]
    return render_scalar(str(node.value))


def _derived(value: str, item: yaml.ScalarNode) -> str:
    return render_scalar(value, quote=style_of(item) or '"')


def _entries_from_list(text: str, seq: yaml.SequenceNode) -> list[_Entry]:
    items = seq.value
    entries: list[_Entry] = []
    i = 0
    while i < len(items):
        item = items[i]
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).startswith("--"):
            raise _NoFix("positional value or short flag")
        match = _LONG_FLAG.fullmatch(str(item.value))
        if match is None:
            raise _NoFix("unreadable flag")
        name, joined, spaced = match.groups()
        if joined is not None or spaced is not None:
            value = joined if joined is not None else spaced.strip()
            if spaced is not None and not value:
                raise _NoFix("flag without value")
            entries.append(_Entry(name, _derived(value, item), _row(item), item.end_mark.line))
            i += 1
            continue
        if i + 1 >= len(items):
            raise _NoFix("flag without value")
        nxt = items[i + 1]
        if not isinstance(nxt, yaml.ScalarNode):
            raise _NoFix("non-string value")
        word = str(nxt.value)
        if word.startswith("-") and not _NUMBER.fullmatch(word):
            raise _NoFix("flag without value")
        entries.append(_Entry(name, _value_text(text, nxt), _row(item), nxt.end_mark.line))
        i += 2
    return entries


def _entries_from_mapping(text: str, mapping: yaml.MappingNode) -> list[_Entry]:
    entries: list[_Entry] = []
    for key, value in mapping.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge" or key.value == "<<":
            raise _NoFix("merge key")
        word = str(key.value)
        if word.startswith("--"):
            name = word[2:]
        elif word.startswith("-"):
            raise _NoFix("short flag")
        else:
            name = word
        if not re.fullmatch(r"[A-Za-z_][\w.\-]*", name):
            raise _NoFix("unreadable name")
        entries.append(_Entry(name, _value_text(text, value), _row(key), value.end_mark.line))
    return entries


def _own(mapping: yaml.MappingNode, key: yaml.Node) -> bool:
    return any(k is key for k, _ in mapping.value)


def _plan(text: str, nb_key: yaml.Node, nb: yaml.MappingNode, key: yaml.Node, value: yaml.Node) -> tuple[tuple[Edit, ...], list[str]]:
    """The edits of the fix and the names dropped because base_parameters already has them."""
    if not is_block(nb) or not _own(nb, key) or not starts_line(text, key.start_mark.index):
        raise _NoFix("flow style or merged key")
    if isinstance(value, yaml.SequenceNode):
        entries = _entries_from_list(text, value)
    else:
        entries = _entries_from_mapping(text, value)
    names = [e.name for e in entries]
    if not entries or len(set(names)) != len(names):
        raise _NoFix("empty or repeated names")
    start = key.start_mark.index
    end = content_end(value)
    header = _attach_comments(text, comments_in(text, start, end, [key, value]), entries, _row(key))

    existing = mapping_pair(nb, "base_parameters")
    step = indent_step(nb_key, nb)
    if not 1 <= step <= 8:
        step = 2
    if existing is None:
        # replace `parameters: ...` up to its last value; a comment after it stays where it is
        indent = " " * (key.start_mark.column + step)
        lines = ["base_parameters:" + (f"  {header[0]}" if header else "")]
        lines.extend(_render_entries(entries, indent))
        return (Edit(start, end, "\n".join(lines)),), []

    bp_key, bp = existing
    if not _own(nb, bp_key) or not starts_line(text, bp_key.start_mark.index):
        raise _NoFix("base_parameters from a merge")
    # the whole `parameters` entry goes, lines and all; its comments travel with the entries
    for comment in comments_in(text, end, line_end(text, end), []):
        _add_trailing(entries[-1], comment.text)
    header_lines = [f"{c}" for c in header]
    delete = Edit(line_start(text, start), next_line_start(text, line_end(text, end)), "")
    if isinstance(bp, yaml.MappingNode) and is_block(bp) and bp.value:
        existing_names = {str(k.value) for k, _ in bp.value if isinstance(k, yaml.ScalarNode)}
        kept, dropped = _merge(entries, existing_names, header_lines)
        if not kept:
            return (delete,), dropped
        indent = " " * bp.value[0][0].start_mark.column
        at = next_line_start(text, content_end(bp) - 1)
        body = "\n".join(_render_entries(kept, indent))
        insert = Edit(at, at, ("\n" + body) if at == len(text) and not text.endswith("\n") else body + "\n")
        return (insert, delete), dropped
    # empty (`base_parameters:`), `{}` or a flow mapping: rewrite that entry in block style
    bp_end = content_end(bp)
    if comments_in(text, bp_key.start_mark.index, bp_end, [bp_key, bp]):
        raise _NoFix("comments in a flow base_parameters")
    indent = " " * (bp_key.start_mark.column + step)
    lines = ["base_parameters:"]
    existing_names: set[str] = set()
    if isinstance(bp, yaml.MappingNode):
        for k, v in bp.value:
            if not isinstance(k, yaml.ScalarNode) or k.value == "<<":
                raise _NoFix("complex key")
            k_text = text[k.start_mark.index : k.end_mark.index] if style_of(k) else render_scalar(str(k.value), key=True)
            lines.append(f"{indent}{k_text}: {_value_text(text, v)}")
            existing_names.add(str(k.value))
    elif not (isinstance(bp, yaml.ScalarNode) and bp.tag.endswith(":null")):
        raise _NoFix("base_parameters is not a mapping")
    kept, dropped = _merge(entries, existing_names, header_lines)
    lines.extend(_render_entries(kept, indent))
    return (Edit(bp_key.start_mark.index, bp_end, "\n".join(lines)), delete), dropped


def _merge(entries: list[_Entry], existing: set[str], header: list[str]) -> tuple[list[_Entry], list[str]]:
    """Entries whose name is not in ``existing``; comments of dropped entries (and of the
    removed `parameters` key line) move to the next kept entry, or the last one."""
    kept: list[_Entry] = []
    dropped: list[str] = []
    pending = list(header)
    for entry in entries:
        if entry.name in existing:
            dropped.append(entry.name)
            pending.extend(entry.before + ([entry.trailing] if entry.trailing else []))
            continue
        entry.before = pending + entry.before
        pending = []
        kept.append(entry)
    if pending and kept:
        kept[-1].before.extend(pending)
    elif pending:
        raise _NoFix("comments would be lost")
    return kept, dropped


def _add_trailing(entry: _Entry, comment: str) -> None:
    if entry.trailing:
        entry.before.append(entry.trailing)
    entry.trailing = comment


def _attach_comments(text: str, comments: list, entries: list[_Entry], key_row: int) -> list[str]:
    """Give each comment inside the rewritten entry to an entry; returns the key line's ones.

    Own-line comments go before the next entry (the last one when none follows); a trailing
    comment goes to the entry that starts on or before its row."""
    header: list[str] = []
    for comment in comments:
        row = text.count("\n", 0, comment.start)
        if comment.own_line:
            target = next((e for e in entries if e.first_row > row), entries[-1])
            target.before.append(comment.text)
        elif row == key_row:
            header.append(comment.text)
        else:
            earlier = [e for e in entries if e.first_row <= row]
            _add_trailing(earlier[-1] if earlier else entries[0], comment.text)
    if len(header) > 1:
        raise _NoFix("several comments on the key line")
    return header


def _render_entries(entries: list[_Entry], indent: str) -> list[str]:
    lines: list[str] = []
    for entry in entries:
        lines.extend(indent + c for c in entry.before)
        trailing = f"  {entry.trailing}" if entry.trailing else ""
        lines.append(f"{indent}{render_scalar(entry.name, key=True)}: {entry.value}{trailing}")
    return lines
