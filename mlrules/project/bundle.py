"""Walking bundle YAML: jobs, tasks, environments and libraries, in the base and in targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import yaml

from mlrules.sources.yaml_source import iter_mapping, mapping_get, scalar, sequence


@dataclass(frozen=True)
class JobNode:
    name: str
    key: yaml.Node  # the job's key node
    node: yaml.Node  # the job's mapping
    target: str | None  # None for the base resources, else the target's name


def iter_jobs(root: yaml.Node | None) -> Iterator[JobNode]:
    """Jobs under ``resources.jobs`` and under each ``targets.<t>.resources.jobs``."""
    if root is None:
        return
    for name, (key, job) in iter_mapping(mapping_get(mapping_get(root, "resources"), "jobs")):
        yield JobNode(name, key, job, None)
    for target, (_, target_node) in iter_mapping(mapping_get(root, "targets")):
        for name, (key, job) in iter_mapping(mapping_get(mapping_get(target_node, "resources"), "jobs")):
            yield JobNode(name, key, job, target)


def iter_tasks(job: yaml.Node) -> Iterator[yaml.Node]:
    for task in sequence(mapping_get(job, "tasks")):
        if isinstance(task, yaml.MappingNode):
            yield task


def iter_dependency_nodes(root: yaml.Node | None) -> Iterator[tuple[JobNode, yaml.ScalarNode]]:
    """Every package requirement of a job: ``environments[].spec.dependencies[]`` and
    ``tasks[].libraries[].pypi.package`` (and ``for_each_task.task`` libraries)."""
    for job in iter_jobs(root):
        for env in sequence(mapping_get(job.node, "environments")):
            for dep in sequence(mapping_get(mapping_get(env, "spec"), "dependencies")):
                if isinstance(dep, yaml.ScalarNode):
                    yield job, dep
        for task in iter_tasks(job.node):
            for t in (task, mapping_get(mapping_get(task, "for_each_task"), "task")):
                for lib in sequence(mapping_get(t, "libraries")):
                    package = mapping_get(mapping_get(lib, "pypi"), "package")
                    if isinstance(package, yaml.ScalarNode):
                        yield job, package


def iter_requirements_files(root: yaml.Node | None) -> Iterator[str]:
    """Paths named by ``libraries[].requirements``."""
    for job in iter_jobs(root):
        for task in iter_tasks(job.node):
            for lib in sequence(mapping_get(task, "libraries")):
                value = scalar(mapping_get(lib, "requirements"))
                if value:
                    yield value
