from __future__ import annotations

import re

import libcst as cst

from mlrules.analysis.index import FE_CLIENT, FS_CLIENT, dotted_name
from mlrules.analysis.walk import children
from mlrules.rules.base import Invalid, PythonRule, Valid, ipynb

EXIT = "dbutils.notebook.exit"
BROAD = frozenset({"Exception", "BaseException"})
# Calls that are model work: training, logging, scoring, feature writes.
MODEL_METHODS = frozenset(
    {
        "fit", "fit_transform", "partial_fit", "train", "cross_validate", "cross_val_score", "fmin",
        "predict", "predict_proba", "score_batch", "spark_udf", "load_model", "evaluate",
        "log_model", "log_metric", "log_metrics", "log_param", "log_params", "log_artifact", "log_artifacts",
        "log_input", "log_table", "log_dict", "log_figure", "log_text", "log_image", "register_model",
        "set_registered_model_alias", "create_model_version", "start_run",
        "create_table", "write_table", "create_training_set", "create_feature_table",
    }
)
# A function whose name says it does model work (`train_model`, `run_inference`, `score`).
_MODEL_WORDS = re.compile(r"(?:^|_)(?:train|training|retrain|fit|predict|inference|score|scoring|forecast)(?:_|$)")
_FAILURE_WORDS = ("FAIL", "ERROR", "UNSUCCESS", "NOT SUCCESS", "NOT_SUCCESS", "NO SUCCESS", "PARTIAL")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_PROCESS_EXITS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort"})


class ExitSuccessOnFailure(PythonRule):
    """
    ## What it does
    Flags `dbutils.notebook.exit(...)` whose value says success (a string containing
    `SUCCESS`, any case; a dict or `json.dumps({...})` with a `"status"` entry saying
    `SUCCESS`) when it runs after a failure:

    - inside an `except` handler or a `finally` block;
    - later in the same block after a `try` whose handler catches broad exceptions
      (`except:`, `except Exception`, `except BaseException`) around model work (training,
      logging, scoring, feature writes; also a function of the same file that does such
      work, or one named like `train_model`/`run_inference`) and neither re-raises, nor
      exits, nor leaves the block (`return`, `continue`, `break`, `sys.exit`).

    ## Why it matters
    The job run is green and the caller (`dbutils.notebook.run`, a downstream task, a
    monitoring query reading the exit value) believes the model was trained, logged or
    scored. The failure only shows when someone reads the logs.

    Not flagged:
    - a ladder: the success exit sits in an `if` whose other branches raise or exit with a
      failure value (`PARTIAL_FAILURE`/`FAILED` when failures were counted), or a `raise`,
      `assert` or failure exit runs between the `try` and the success exit;
    - a handler around set-up code only (path setup, imports, widgets): no model work;
    - exit values that are unknown (`dbutils.notebook.exit(result)` built at run time) or do
      not say success (`"FAILED"`, `"PARTIAL_SUCCESS"`, `"UNSUCCESSFUL"`).

    ## Example
    ```python
    try:
        model.fit(X, y)
        mlflow.sklearn.log_model(model, "model")
    except Exception as e:
        print(f"Training failed: {e}")
    dbutils.notebook.exit("SUCCESS")
    ```

    ## Use instead
    ```python
    try:
        model.fit(X, y)
        mlflow.sklearn.log_model(model, "model")
    except Exception as e:
        print(f"Training failed: {e}")
        raise
    dbutils.notebook.exit("SUCCESS")
    ```

    ## Fix safety
    No fix: whether to re-raise or exit with a failure value is the author's call.
    """

    code = "NB002"
    name = "exit-success-on-failure"
    summary = "dbutils.notebook.exit reports SUCCESS after a caught failure"
    triggers = ("notebook.exit",)

    invalid = (
        Invalid(
            "# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    print(e)\n    dbutils.notebook.exit('SUCCESS')\n",
            6, 5, message_contains="except",
        ),
        Invalid(
            "# Databricks notebook source\nimport json\ntry:\n    train()\nfinally:\n    dbutils.notebook.exit(json.dumps({'status': 'SUCCESS', 'rows': 3}))\n",
            6, 5, message_contains="finally",
        ),
        # later in the same block, after a broad try around model work that swallows the error
        Invalid(
            "# Databricks notebook source\nimport mlflow\n\n# COMMAND ----------\n\ntry:\n    with mlflow.start_run():\n        model.fit(X, y)\n"
            "        mlflow.sklearn.log_model(model, 'model')\nexcept Exception as e:\n    print(f'failed: {e}')\n\n# COMMAND ----------\n\n"
            "dbutils.notebook.exit('SUCCESS')\n",
            15, 1, message_contains="line 10",
        ),
        # model work in a function of the same file; a bare except; the status in a dict name
        Invalid(
            "# Databricks notebook source\nimport json\n\ndef run(df):\n    return fe.write_table(name='t', df=df)\n\ndef main():\n"
            "    try:\n        run(df)\n    except:\n        pass\n    result = {'status': 'SUCCESS'}\n    dbutils.notebook.exit(json.dumps(result))\n",
            13, 5,
        ),
        Invalid(
            "# Databricks notebook source\ntry:\n    train_model(cfg)\nexcept (ValueError, Exception):\n    log('x')\nstatus = 'SUCCESS'\ndbutils.notebook.exit(f'{status}: done')\n",
            7, 1,
        ),
        Invalid(
            ipynb(("markdown", "# Train"), "try:\n    model.fit(X, y)\nexcept Exception:\n    dbutils.notebook.exit(\"success\")"),
            4, 5, cell=2, path="nb.ipynb",
        ),
    )
    valid = (
        # re-raised, or exits with a failure value
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    print(e)\n    raise\ndbutils.notebook.exit('SUCCESS')\n"),
        Valid(
            "# Databricks notebook source\nimport json\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n"
            "    dbutils.notebook.exit(json.dumps({'status': 'FAILED', 'error': str(e)}))\ndbutils.notebook.exit(json.dumps({'status': 'SUCCESS'}))\n"
        ),
        # a handler that only prints around set-up code
        Valid(
            "# Databricks notebook source\nimport sys\ntry:\n    sys.path.insert(0, '/Workspace/x')\n    from churn import features\nexcept Exception as e:\n"
            "    print(f'path setup failed: {e}')\n\n# COMMAND ----------\n\nmodel.fit(X, y)\ndbutils.notebook.exit('SUCCESS')\n"
        ),
        # the ladder: failures counted, PARTIAL_FAILURE / FAILED exits
        Valid(
            "# Databricks notebook source\nfailed = []\nfor name in models:\n    try:\n        train_one(name)\n    except Exception as e:\n        failed.append(name)\n"
            "if len(failed) == len(models):\n    dbutils.notebook.exit('FAILED')\nelif failed:\n    dbutils.notebook.exit('PARTIAL_FAILURE')\nelse:\n    dbutils.notebook.exit('SUCCESS')\n"
        ),
        Valid(
            "# Databricks notebook source\nerrors = 0\ntry:\n    model.fit(X, y)\nexcept Exception:\n    errors += 1\nif errors:\n    raise RuntimeError('training failed')\ndbutils.notebook.exit('SUCCESS')\n"
        ),
        Valid(
            "# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    if 'already exists' in str(e):\n        dbutils.notebook.exit('SUCCESS')\n    else:\n        raise\n"
        ),
        # the handler rewrites the status that the exit sends
        Valid(
            "# Databricks notebook source\nimport json\nresult = {'status': 'SUCCESS'}\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n"
            "    result['status'] = 'FAILED'\ndbutils.notebook.exit(json.dumps(result))\n"
        ),
        # a narrow handler after the try, an else clause, unknown and failure values
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept ValueError:\n    print('x')\ndbutils.notebook.exit('SUCCESS')\n"),
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception:\n    raise\nelse:\n    dbutils.notebook.exit('SUCCESS')\n"),
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    dbutils.notebook.exit(str(e))\n"),
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    dbutils.notebook.exit('UNSUCCESSFUL')\n"),
        Valid("# Databricks notebook source\ntry:\n    model.fit(X, y)\nexcept Exception as e:\n    dbutils.notebook.exit(f'{success_count} models')\n"),
        # the handler leaves the loop body / function
        Valid(
            "# Databricks notebook source\ndef main():\n    try:\n        model.fit(X, y)\n    except Exception:\n        return\n    dbutils.notebook.exit('SUCCESS')\n"
        ),
        # an exit in a function defined inside a handler does not run there
        Valid("# Databricks notebook source\ntry:\n    import x\nexcept Exception:\n    def done():\n        dbutils.notebook.exit('SUCCESS')\n"),
    )

    def check(self, ctx):
        checker = _Checker(ctx)
        for site in ctx.index.calls:
            call = site.node
            name = site.dotted or ""  # _is_exit(call), from the name the index computed
            if not (name == EXIT or name.endswith("." + EXIT)):
                continue
            ancestors = tuple(reversed(list(ctx.index.ancestors(call))))  # outermost first
            if not checker.says_success(call, ancestors):
                continue
            reason = checker.reason(call, ancestors)
            if reason is None:
                continue
            yield self.finding(
                ctx.path,
                ctx.span(call),
                f"`{ctx.code_for(call)}` {reason}: the job reports SUCCESS after a failure; re-raise or exit with a failure value",
            )


def _is_exit(call: cst.Call) -> bool:
    name = dotted_name(call.func) or ""
    return name == EXIT or name.endswith("." + EXIT)


class _Checker:
    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self._model_work: dict[int, bool] = {}
        self._mutated: set[str] | None = None
        self._signal_map: dict | None = None

    @property
    def signal_map(self) -> dict:
        if self._signal_map is None:
            self._signal_map = _signal_map(self.ctx.index, self)
        return self._signal_map

    @property
    def mutated(self) -> set[str]:
        """Names whose dict/list value is changed in place somewhere (``d["status"] = ...``,
        ``d.update(...)``): their literal value says nothing about the exit value."""
        if self._mutated is None:
            self._mutated = _mutated_names(self.ctx.index)
        return self._mutated

    # --- the exit value ------------------------------------------------------------------
    def says_success(self, call: cst.Call, ancestors) -> bool:
        if not call.args or call.args[0].star:
            return False
        keyword = call.args[0].keyword
        if keyword is not None and keyword.value != "value":
            return False
        scope = next((a for a in reversed(ancestors) if isinstance(a, cst.FunctionDef)), None)
        return self._success_value(call.args[0].value, scope, 0) is True

    def _success_value(self, expr: cst.BaseExpression, scope, depth: int) -> bool | None:
        """True: says success; False: says something else; None: unknown."""
        if depth > 6:
            return None
        if isinstance(expr, cst.Dict):
            for element in expr.elements:
                if isinstance(element, cst.DictElement):
                    key = self.ctx.string_value(element.key, scope)
                    if key is not None and key.text.lower() == "status":
                        return self._success_value(element.value, scope, depth + 1)
            return None
        if isinstance(expr, cst.Call):
            name = dotted_name(expr.func)
            if name in ("json.dumps", "dumps", "dict") and expr.args:
                if name == "dict":
                    for arg in expr.args:
                        if arg.keyword is not None and arg.keyword.value.lower() == "status":
                            return self._success_value(arg.value, scope, depth + 1)
                    return None
                return self._success_value(expr.args[0].value, scope, depth + 1)
        if isinstance(expr, cst.Name) and expr.value not in self.ctx.index.imports and expr.value not in self.mutated:
            values = self.ctx.index.values_of(expr.value, scope)
            if values and len(values) == 1 and isinstance(values[0], (cst.Dict, cst.Call)):
                owner = scope if scope is not None and expr.value in self.ctx.index.bindings.get(scope, {}) else None
                return self._success_value(values[0], owner, depth + 1)
        value = self.ctx.string_value(expr, scope)
        if value is None:
            return None
        upper = _PLACEHOLDER.sub("", value.text).upper()  # `{success_count}` is a name, not a status
        return "SUCCESS" in upper and not any(word in upper for word in _FAILURE_WORDS)

    # --- where it runs -------------------------------------------------------------------
    def reason(self, call: cst.Call, ancestors: tuple[cst.CSTNode, ...]) -> str | None:
        chain = list(ancestors) + [call]
        # innermost function boundary: nothing outside it runs together with the exit
        start = 0
        for i, node in enumerate(chain[:-1]):
            if isinstance(node, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
                start = i + 1
        inner = chain[start:]
        # (a) inside an except handler or a finally block
        for i in range(len(inner) - 1, -1, -1):
            node = inner[i]
            if isinstance(node, (cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally)):
                if _has_failure_signal(node.body, self):
                    return None  # the block also raises or exits with a failure: a ladder
                if isinstance(node, cst.Finally):
                    return "runs in a `finally` block (also when the `try` failed)"
                return "runs in an `except` handler"
        # (b) later in the same block after a broad try that swallows a model-work failure
        statement_index = _statement_of(inner)
        if statement_index is None or statement_index < 1:
            return None
        statement = inner[statement_index]
        block = inner[statement_index - 1]
        body = _block_statements(block)
        if body is None or statement not in body:
            return None
        position = body.index(statement)
        for j in range(position - 1, -1, -1):
            stmt = body[j]
            if isinstance(stmt, cst.Try):
                handler = self._swallowing_handler(stmt)
                if handler is not None:
                    row = self.ctx.span(handler).start.row
                    return f"runs after the `except` on line {row} swallowed a failure of the model work in its `try`"
            signals = _scan(stmt, self)
            if signals.found or signals.returns or signals.exits:
                return None  # a raise / exit / return between them: a ladder, or the exit is not reached
        return None

    def _swallowing_handler(self, node: cst.Try) -> cst.ExceptHandler | None:
        if not any(self.model_work(stmt, 0) for stmt in node.body.body):
            return None
        for handler in node.handlers:
            if not _is_broad(handler):
                continue
            signals = _scan(handler.body, self)
            if signals.found or signals.returns or signals.loop_exits or signals.exits:
                return None
            return handler
        return None

    def model_work(self, node: cst.CSTNode, depth: int) -> bool:
        key = id(node)
        if key in self._model_work:
            return self._model_work[key]
        self._model_work[key] = False  # recursion guard
        result = False
        for call in _calls_in(node):
            if self._is_model_call(call, depth):
                result = True
                break
        self._model_work[key] = result
        return result

    def _is_model_call(self, call: cst.Call, depth: int) -> bool:
        func = call.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if last is None:
            return False
        if last in MODEL_METHODS or _MODEL_WORDS.search(last.lower()):
            return True
        qual = self.ctx.index.resolve_dotted(dotted_name(func)) or ""
        if qual.startswith((FE_CLIENT + ".", FS_CLIENT + ".")):
            return True
        if isinstance(func, cst.Name) and depth < 3:
            for definition in self.ctx.index.functions.get(func.value, []):
                if self.model_work(definition.body, depth + 1):
                    return True
        return False

    def failure_exit(self, call: cst.Call) -> bool:
        """A call that ends the run without success: a process exit, or a notebook exit whose
        value is not known to say success."""
        name = dotted_name(call.func) or ""
        if name in _PROCESS_EXITS:
            return True
        if _is_exit(call):
            return not self.says_success(call, ())
        return False


_MUTATING_METHODS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__", "append", "extend"})


def _mutated_names(index) -> set[str]:
    names: set[str] = set()

    def target(node: cst.BaseExpression) -> None:
        if isinstance(node, (cst.Subscript, cst.Attribute)) and isinstance(node.value, cst.Name):
            names.add(node.value.value)

    for node in index.nodes(cst.AssignTarget):
        target(node.target)
    for node in index.nodes(cst.AugAssign):
        target(node.target)
        if isinstance(node.target, cst.Name):
            names.add(node.target.value)
    for node in index.nodes(cst.Del):
        target(node.target)
    for node in index.nodes(cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _MUTATING_METHODS and isinstance(func.value, cst.Name):
            names.add(func.value.value)
    return names


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    """Every call in ``node`` (itself included), not looking into lambdas, in source order.

    An iterative walk over the tree (a ``CSTVisitor`` would cost about one parse per call)."""
    calls: list[cst.Call] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Call):
            calls.append(current)
        elif isinstance(current, cst.Lambda):
            continue
        kids = list(children(current))
        kids.reverse()
        stack.extend(kids)
    return calls


class _Signals:
    """raise / assert / failure exits, not looking into nested functions, classes and lambdas."""

    def __init__(self, checker: _Checker) -> None:
        self.checker = checker
        self.found = False  # raise, assert, failure exit
        self.returns = False
        self.loop_exits = False  # continue / break
        self.exits = False  # any notebook exit


_NESTED_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _scan(node: cst.CSTNode, checker: _Checker) -> _Signals:
    return checker.signal_map.get(node) or _Signals(checker)


def _signal_map(index, checker: _Checker) -> dict:
    """node -> the signals in its subtree (nested functions, classes and lambdas left out), for
    every node of the file that has one: computed once per file from the shared index, by
    marking each signal's ancestors up to the nearest nested scope."""
    out: dict = {}
    parents = index.parents

    def mark(node: cst.CSTNode, attr: str) -> None:
        current = node
        while current is not None and not isinstance(current, _NESTED_SCOPES):
            signals = out.get(current)
            if signals is None:
                signals = out[current] = _Signals(checker)
            elif getattr(signals, attr):
                return  # its ancestors are marked already
            setattr(signals, attr, True)
            current = parents.get(current)

    for node_type, attr in ((cst.Raise, "found"), (cst.Assert, "found"), (cst.Return, "returns"), (cst.Continue, "loop_exits"), (cst.Break, "loop_exits")):
        for node in index.nodes(node_type):
            mark(node, attr)
    for site in index.calls:
        name = site.dotted or ""  # dotted_name(call.func), computed by the index
        is_exit = name == EXIT or name.endswith("." + EXIT)
        if is_exit:
            mark(site.node, "exits")
        # checker.failure_exit(call), from the same name
        if name in _PROCESS_EXITS or (is_exit and not checker.says_success(site.node, ())):
            mark(site.node, "found")
    return out


def _has_failure_signal(node: cst.CSTNode, checker: _Checker) -> bool:
    return _scan(node, checker).found


def _is_broad(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
    for item in types:
        expr = item.value if isinstance(item, cst.Element) else item
        name = dotted_name(expr)
        if name and name.rsplit(".", 1)[-1] in BROAD:
            return True
    return False


def _statement_of(chain: list[cst.CSTNode]) -> int | None:
    """Index in ``chain`` of the statement holding the call (a simple statement line)."""
    for i in range(len(chain) - 1, -1, -1):
        if isinstance(chain[i], cst.SimpleStatementLine):
            return i
    return None


def _block_statements(node: cst.CSTNode) -> list[cst.CSTNode] | None:
    if isinstance(node, cst.Module):
        return list(node.body)
    if isinstance(node, cst.IndentedBlock):
        return list(node.body)
    return None
