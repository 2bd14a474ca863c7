"""Workflows: each JSON file under `workflows/` defines one slash command. No Discord here.

The format is the one of the original `workflow.json` concept (stages with form fields, a
prompt template and image-generation settings), plus an optional `command` block for what
Discord needs. Modules, in the order data flows through them:

- `jsonc`: JSON with `//` and `/* */` comments, errors with line and column.
- `schema`: the file format as pydantic models (`python -m bot.workflows.schema` prints the
  JSON Schema editors use, `workflows/schema.json`).
- `naming`: Discord's rules for command and option names and descriptions.
- `templates`: `{{stage-id.output.field}}` placeholders, compiled at load time.
- `values`: what a form field accepts (its defaultValue, and members' answers).
- `rules`, `generation_rules`: everything a file must satisfy beyond its shape (stages,
  options; the image stage, its model and template).
- `problems`: `WorkflowProblem` (file, field, message, fix), `Findings`, `WorkflowError`.
- `loader`: `load_workflows(directory, settings)`, collecting every problem of every file,
  into `workflow.Workflow` objects (validated, defaults and model resolved).
- `engine`: a loaded workflow as a command (`command_spec`) and as a run (`compile_run`).
- `redo`: the style variations offered after a result.
- `check`: what `python -m bot check` prints; `run_cli`: `python -m bot run`.
"""
