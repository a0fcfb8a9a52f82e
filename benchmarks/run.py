"""mlrules' performance, measured side by side on generated repositories.

    .venv/bin/python benchmarks/run.py [--scales 1,2,4] [--repeat 3] [--no-tools] [--update-readme]

What it measures, on ``generate_corpus.py`` output (scale 1: about 100k lines in 500 files),
every number the median of ``--repeat`` runs, all in this one invocation:

- **libcst parse**: one process parsing every Python file of the corpus once with
  ``libcst.parse_module`` (``.ipynb``: its code cells, magic lines commented out), timed
  around the parse loop only (no interpreter start, no imports: the strictest baseline);
- **cold**: ``mlrules check --no-cache`` with every default rule (a whole process);
- **warm**: ``mlrules check`` again with the cache of a previous run and nothing changed;
  its output must be byte-identical to the cold run's;
- **edit**: ``mlrules check`` with the cache after one notebook changed (the manifest misses;
  every other file's cached result is checked and reused);
- **Fixit** (``fixit lint``, its built-in rules) and **Ruff** (``ruff check --no-cache``,
  default rules), installed into a throw-away virtual environment under ``benchmarks/.work/``;
- peak memory of ``mlrules check``, sampled every 10 ms in a separate run (sampling costs
  CPU, so timed runs are not sampled): the largest resident set of one process, and the
  largest total of the run's processes (proportional set sizes: pages the forked workers
  share with the parent count once); and the cold time, CPU time and memory at each scale
  (growth should be linear).

Targets: cold / parse <= 1.0, warm / cold <= 0.15, Fixit / cold >= 10, peak memory < 300 MB.
mlrules' own modules are byte-compiled first (``compileall``), as an installed package is.
``--update-readme`` writes the table into README.md's Performance section.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".work")
TOOLS = os.path.join(WORK, "tools-venv")
PYTHON = sys.executable
MLRULES = os.path.join(os.path.dirname(sys.executable), "mlrules")
TOOL_PACKAGES = ("fixit>=2.1,<3", "ruff>=0.6")

sys.path.insert(0, HERE)
from generate_corpus import generate  # noqa: E402

PARSE_SCRIPT = r"""
import json, os, sys, time
import libcst

root = sys.argv[1]
files = []
for folder, dirs, names in os.walk(root):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for name in sorted(names):
        if name.endswith((".py", ".ipynb")):
            files.append(os.path.join(folder, name))
texts = []
for path in files:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if path.endswith(".ipynb"):
        cells = [c for c in json.loads(text)["cells"] if c["cell_type"] == "code"]
        code = "\n".join("".join(c["source"]) for c in cells)
        text = "\n".join("#" + l if l.lstrip().startswith(("%", "!")) else l for l in code.split("\n")) + "\n"
    texts.append(text)
start = time.perf_counter()
for text in texts:
    libcst.parse_module(text)
print(json.dumps({"seconds": time.perf_counter() - start, "files": len(texts), "lines": sum(t.count("\n") for t in texts)}))
"""


# --- measuring a process ----------------------------------------------------------------------


def _pss(pid: int) -> int | None:
    """Proportional set size (shared pages divided among the processes sharing them)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _tree_rss(root: int) -> tuple[int, int]:
    """(sum of proportional set sizes, largest resident set) of ``root`` and its descendants:
    forked workers share the parent's pages, which a plain sum of RSS would count again and again."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total = biggest = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        pss = _pss(pid)
        total += pss if pss is not None else rss.get(pid, 0)
        biggest = max(biggest, rss.get(pid, 0))
        pending.extend(children.get(pid, ()))
    return total, biggest


def timed(cmd: list[str], cwd: str, env: dict | None = None, memory: bool = False) -> dict:
    """Run ``cmd``; wall time, CPU time, exit code and stdout; with ``memory``, the peak memory
    of its process tree too (sampling costs CPU: timed runs do not sample)."""
    peak = {"sum": 0, "max": 0}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        while memory and not done.is_set():
            if sys.platform.startswith("linux"):
                total, biggest = _tree_rss(proc.pid)
                peak["sum"] = max(peak["sum"], total)
                peak["max"] = max(peak["max"], biggest)
            done.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    sampler.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # the process and its workers
    return {"seconds": seconds, "cpu": cpu, "rc": proc.returncode, "stdout": out, "stderr": err, "mem_sum": peak["sum"], "mem_max": peak["max"]}


def median_run(cmd: list[str], cwd: str, repeat: int, env: dict | None = None, before=None, memory: bool = False) -> dict:
    """The median of ``repeat`` timed runs; with ``memory``, one more run measures memory."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        runs.append(timed(cmd, cwd, env))
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    best = dict(best)
    best["all"] = [round(r["seconds"], 3) for r in runs]
    best["cpu"] = statistics.median(r["cpu"] for r in runs)
    best["mem_sum"] = best["mem_max"] = 0
    if memory:
        sampled = timed(cmd, cwd, env, memory=True)
        best["mem_sum"], best["mem_max"] = sampled["mem_sum"], sampled["mem_max"]
    return best


# --- the pieces -------------------------------------------------------------------------------


def corpus(scale: int) -> str:
    path = os.path.join(WORK, f"corpus-x{scale}")
    stamp = os.path.join(path, ".generated")
    with open(os.path.join(HERE, "generate_corpus.py"), "rb") as fh:
        version = hashlib.sha256(fh.read() + str(scale).encode()).hexdigest()
    if not (os.path.exists(stamp) and open(stamp).read() == version):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        generate(path, scale)
        with open(stamp, "w") as fh:
            fh.write(version)
    return path


def tools_venv() -> dict[str, str] | None:
    """Fixit and Ruff in a throw-away virtual environment (created once)."""
    bin_dir = os.path.join(TOOLS, "bin")
    fixit, ruff = os.path.join(bin_dir, "fixit"), os.path.join(bin_dir, "ruff")
    if not (os.path.exists(fixit) and os.path.exists(ruff)):
        shutil.rmtree(TOOLS, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", TOOLS], check=True)
        result = subprocess.run([os.path.join(bin_dir, "python"), "-m", "pip", "install", "-q", *TOOL_PACKAGES])
        if result.returncode != 0:
            return None
    versions = {}
    for name, exe in (("fixit", fixit), ("ruff", ruff)):
        out = subprocess.run([exe, "--version"], capture_output=True, text=True)
        versions[name] = (out.stdout or out.stderr).strip().splitlines()[-1] if (out.stdout or out.stderr) else "?"
    return {"fixit": fixit, "ruff": ruff, **{f"{k}_version": v for k, v in versions.items()}}


def parse_baseline(path: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([PYTHON, "-c", PARSE_SCRIPT, path], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    best["all"] = [round(r["seconds"], 3) for r in runs]
    return best


def machine() -> dict:
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() if shutil.which("nproc") else str(os.cpu_count())
    return {"nproc": nproc, "cpu": model, "python": platform.python_version(), "load": os.getloadavg() if hasattr(os, "getloadavg") else None}


# --- the run ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-tools", action="store_true", help="skip Fixit and Ruff")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    os.makedirs(WORK, exist_ok=True)
    env = dict(os.environ)
    # An installed package has its bytecode compiled (pip does it); an editable install under
    # PYTHONDONTWRITEBYTECODE=1 would compile every module again on every run.
    compile_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.join(REPO, "mlrules")], env=compile_env, stdout=subprocess.DEVNULL, check=False)
    info = machine()
    print(f"machine: nproc={info['nproc']}, {info['cpu']}, Python {info['python']}, load average {info['load']}", flush=True)
    if info["load"] and info["load"][0] > 0.5:
        print("warning: the machine is busy (load average above 0.5): numbers will be noisy", flush=True)

    results: dict = {"machine": info, "scales": {}}
    base = corpus(scales[0])
    print(f"corpus x{scales[0]}: {base}", flush=True)
    parse = parse_baseline(base, args.repeat)
    results["parse"] = parse
    print(f"  libcst parse: {parse['seconds']:.2f}s ({parse['files']} files, {parse['lines']} lines) {parse['all']}", flush=True)
    cache_dir = os.path.join(base, ".mlrules_cache")
    cold = median_run([MLRULES, "check", "--no-cache", "."], base, args.repeat, env, memory=True)
    print(f"  mlrules cold: {cold['seconds']:.2f}s {cold['all']} (CPU {cold['cpu']:.2f}s), peak memory {cold['mem_max'] / 2**20:.0f} MB (all processes {cold['mem_sum'] / 2**20:.0f} MB)", flush=True)
    shutil.rmtree(cache_dir, ignore_errors=True)
    first = timed([MLRULES, "check", "."], base, env)
    warm = median_run([MLRULES, "check", "."], base, args.repeat, env)
    identical = warm["stdout"] == cold["stdout"] == first["stdout"] and warm["rc"] == cold["rc"]
    print(f"  mlrules warm: {warm['seconds']:.2f}s {warm['all']} (first run with the cache: {first['seconds']:.2f}s), output identical to cold: {identical}", flush=True)
    edited = os.path.join(base, "notebooks", "nb_0001.py")
    with open(edited, encoding="utf-8") as fh:
        original = fh.read()

    def edit() -> None:
        with open(edited, "a", encoding="utf-8") as fh:
            fh.write("\nprint('edited')\n")

    try:
        changed = median_run([MLRULES, "check", "."], base, args.repeat, env, before=edit)
    finally:
        with open(edited, "w", encoding="utf-8") as fh:
            fh.write(original)
    print(f"  mlrules after editing one notebook: {changed['seconds']:.2f}s {changed['all']}", flush=True)
    results.update({"cold": _plain(cold), "warm": _plain(warm), "first": _plain(first), "edit": _plain(changed), "identical": identical})

    if not args.no_tools:
        tools = tools_venv()
        if tools is None:
            print("  (could not install Fixit and Ruff: skipped)", flush=True)
        else:
            fixit = median_run([tools["fixit"], "lint", "."], base, 1, env)
            ruff = median_run([tools["ruff"], "check", "--no-cache", "--exit-zero", "-q", "."], base, args.repeat, env)
            results.update({"fixit": _plain(fixit), "ruff": _plain(ruff), "tools": {k: v for k, v in tools.items() if k.endswith("version")}})
            print(f"  fixit lint ({tools['fixit_version']}): {fixit['seconds']:.2f}s (exit {fixit['rc']})", flush=True)
            print(f"  ruff check ({tools['ruff_version']}): {ruff['seconds']:.2f}s", flush=True)

    for scale in scales:
        path = corpus(scale)
        run = cold if scale == scales[0] else median_run([MLRULES, "check", "--no-cache", "."], path, args.repeat, env, memory=True)
        count = sum(1 for _, _, names in os.walk(path) for n in names if n.endswith((".py", ".ipynb", ".yml")))
        results["scales"][scale] = {"files": count, **_plain(run)}
        print(f"  x{scale}: {count} files, cold {run['seconds']:.2f}s, peak memory {run['mem_max'] / 2**20:.0f} MB (all processes {run['mem_sum'] / 2**20:.0f} MB)", flush=True)

    table = report(results, scales)
    print()
    print(table)
    with open(os.path.join(WORK, "results.json"), "w") as fh:
        json.dump(results, fh, indent=2, default=str)
    if args.update_readme:
        update_readme(table)
    return 0


def _plain(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("stdout", "stderr")}


def report(results: dict, scales: list[int]) -> str:
    m = results["machine"]
    parse, cold, warm, edit = results["parse"]["seconds"], results["cold"]["seconds"], results["warm"]["seconds"], results["edit"]["seconds"]
    rows = [
        ("libcst `parse_module`, every Python file once, one process (parse loop only)", f"{parse:.2f} s", ""),
        ("`mlrules check --no-cache` (cold, every default rule)", f"{cold:.2f} s (CPU {results['cold']['cpu']:.2f} s)", f"**{cold / parse:.2f}** x parse"),
        ("`mlrules check`, nothing changed (warm)", f"{warm:.2f} s", f"**{warm / cold:.1%}** of cold"),
        ("`mlrules check` after editing one notebook", f"{edit:.2f} s", f"{edit / cold:.1%} of cold"),
    ]
    if "fixit" in results:
        rows.append((f"`fixit lint` ({results['tools']['fixit_version']}, built-in rules)", f"{results['fixit']['seconds']:.2f} s", f"**{results['fixit']['seconds'] / cold:.1f}x** slower than mlrules cold"))
        rows.append((f"`ruff check --no-cache` ({results['tools']['ruff_version']})", f"{results['ruff']['seconds']:.2f} s", f"{results['ruff']['seconds'] / cold:.2f} x mlrules cold"))
    rows.append(("peak memory of `mlrules check` (largest process RSS / all processes PSS)", f"{results['cold']['mem_max'] / 2**20:.0f} MB / {results['cold']['mem_sum'] / 2**20:.0f} MB", ""))
    first = results["scales"][scales[0]]
    lines = [
        f"Machine: `nproc` = {m['nproc']}, {m['cpu']}, Python {m['python']}. Corpus: `benchmarks/generate_corpus.py` "
        f"(scale {scales[0]}: {first['files']} files, {results['parse']['lines']} lines of Python). Medians of the runs of one "
        "`benchmarks/run.py` invocation; the warm output is byte-identical to the cold one: "
        f"{'yes' if results['identical'] else 'NO'}.",
        "",
        "| measurement | time | ratio |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| scale | files | cold | CPU time | peak memory (largest process RSS / all processes PSS) |",
        "|---|---|---|---|---|",
    ]
    for scale in scales:
        s = results["scales"][scale]
        lines.append(
            f"| {scale}x | {s['files']} | {s['seconds']:.2f} s ({s['seconds'] / first['seconds']:.2f}x) | "
            f"{s['cpu']:.2f} s ({s['cpu'] / first['cpu']:.2f}x) | {s['mem_max'] / 2**20:.0f} MB / {s['mem_sum'] / 2**20:.0f} MB |"
        )
    return "\n".join(lines)


def update_readme(table: str) -> None:
    path = os.path.join(REPO, "README.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    start, end = "<!-- perf:start -->", "<!-- perf:end -->"
    if start not in text or end not in text:
        print("README.md has no perf markers: not updated", file=sys.stderr)
        return
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(before + start + "\n" + table + "\n" + end + after)
    print("README.md updated")


if __name__ == "__main__":
    sys.exit(main())
