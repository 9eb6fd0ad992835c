"""A run over files: read the config's inputs, run the pipeline, write its outputs atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pivotrec.pipeline import io, outputs
from pivotrec.pipeline.errors import InputError
from pivotrec.pipeline.problems import without_empty_texts

if TYPE_CHECKING:  # the runner calls this module: imported for types only
    from pivotrec.pipeline.runner import Pipeline, RunResult


def run_files(pipeline: Pipeline) -> RunResult:
    """Read the config's input files, run ``pipeline``, and write the config's output files.

    Outputs are checked before any work and replaced only once all of them are
    written. A row that cannot be used (an empty text, a history item not in the
    catalogue, an unknown language code) is skipped and written to the errors
    file with its file and line; with ``strict: true`` any such row refuses the
    run instead, all of them listed.
    """
    config = pipeline.config
    if config.input is None or config.input.users is None:
        raise InputError(f"{config.source}: 'input.items' and 'input.users' are required to run")
    planned = config.outputs("run")
    outputs.check_outputs(planned, config.inputs())
    items = without_empty_texts(io.load_items(config.input.items), pipeline.normalise)
    users = io.prune_histories(io.load_users(config.input.users), {item.id for item in items.records})
    users = without_empty_texts(users, pipeline.normalise)
    input_problems = items.problems + users.problems
    if config.strict:
        io.refuse(input_problems, f"{config.source} (strict: true)")
    if not items.records:
        io.refuse(items.problems, f"{config.input.items}: no usable item")
    result = pipeline.run(items.records, users.records)
    result.problems[:0] = input_problems
    pipeline.summary.problems = len(result.problems)
    raw_texts = {item.id: item.text for item in items.records}
    rows = {
        "output": outputs.recommendation_rows(result.recommendations),
        "documents": outputs.document_rows(result.documents.values(), raw_texts),
        "errors": outputs.problem_rows(result.problems),
    }
    with outputs.StagedFiles() as staged:
        for out in planned:
            staged.write(out.key, out.path, rows[out.key])
    pipeline.summary.errors_file = next((str(out.path) for out in planned if out.key == "errors"), None)
    return result
