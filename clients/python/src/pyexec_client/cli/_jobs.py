"""`pyexec submit` and `pyexec jobs list|show|watch|cancel|delete|download`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from pyexec_client._client import PyExec
from pyexec_client._errors import NotFoundError
from pyexec_client.cli._common import (
    INTERRUPTED,
    JOB_FAILED,
    OK,
    UsageError,
    add_connection_options,
    add_json_option,
    client_from,
    print_json,
    safe_text,
    stderr_console,
    stdout_console,
)
from pyexec_client.models import JobData, JobEvent, ResultEvent

STATUSES = ("pending", "running", "completed", "failed", "cancelled")


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = sub.add_parser(
        "submit",
        help="submit a job: a prompt, code, or both, with files",
        description="Submit a job. With --wait, follow it live (status, each cell, its "
        "output), then show the result and tables and save the notebook.",
    )
    submit.add_argument("prompt", nargs="?", help="what to do, in plain language")
    code = submit.add_mutually_exclusive_group()
    code.add_argument("--code", help="Python to run (split cells with '# %%' lines)")
    code.add_argument("--code-file", metavar="PATH", help="Python to run, from a file ('-': stdin)")
    submit.add_argument(
        "-f",
        "--file",
        action="append",
        default=[],
        metavar="PATH_OR_ID",
        help="a file for the job: a local path (uploaded) or a file id; repeat for more",
    )
    submit.add_argument("--title")
    submit.add_argument("--priority", type=int, metavar="1-10", help="10 is the most urgent")
    submit.add_argument("--timeout", type=int, metavar="SECONDS", dest="timeout_seconds")
    submit.add_argument("--parent", metavar="JOB_ID", help="continue from this finished job")
    submit.add_argument(
        "-w",
        "--wait",
        action="store_true",
        help="follow the job until it ends (exit 1 if it fails)",
    )
    _add_notebook_options(submit)
    add_json_option(submit)
    add_connection_options(submit)
    submit.set_defaults(pyexec_run=_submit)

    jobs = sub.add_parser("jobs", help="list, show, follow, cancel, delete and download jobs")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")

    listing = jobs_sub.add_parser("list", help="this account's jobs, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("-n", "--limit", type=int, default=20, help="at most this many (20)")
    listing.add_argument("--all", action="store_true", help="every job, page after page")
    add_json_option(listing)
    add_connection_options(listing)
    listing.set_defaults(pyexec_run=_list)

    show = jobs_sub.add_parser("show", help="a job: status, result, tables")
    show.add_argument("job_id", metavar="JOB_ID")
    show.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="hold up to 60 s for its end"
    )
    add_json_option(show)
    add_connection_options(show)
    show.set_defaults(pyexec_run=_show)

    watch = jobs_sub.add_parser(
        "watch", help="follow a job live until it ends (exit 1 if it fails)"
    )
    watch.add_argument("job_id", metavar="JOB_ID")
    _add_notebook_options(watch)
    watch.add_argument("--json", action="store_true", help="the events as JSON lines")
    add_connection_options(watch)
    watch.set_defaults(pyexec_run=_watch)

    cancel = jobs_sub.add_parser("cancel", help="cancel a pending or running job")
    cancel.add_argument("job_id", metavar="JOB_ID")
    add_json_option(cancel)
    add_connection_options(cancel)
    cancel.set_defaults(pyexec_run=_cancel)

    delete = jobs_sub.add_parser("delete", help="delete an ended job and all it left")
    delete.add_argument("job_id", metavar="JOB_ID")
    add_connection_options(delete)
    delete.set_defaults(pyexec_run=_delete)

    download = jobs_sub.add_parser(
        "download", help="save a job's notebook (default), bundle, HTML page or an artifact"
    )
    download.add_argument("job_id", metavar="JOB_ID")
    what = download.add_mutually_exclusive_group()
    what.add_argument("--bundle", action="store_true", help="the .zip that re-runs the job")
    what.add_argument("--html", action="store_true", help="the notebook as an HTML page")
    what.add_argument("--artifact", metavar="NAME", help="one file the job wrote, or a figure")
    download.add_argument(
        "-o", "--output", metavar="PATH", help="file or directory (default: here, server's name)"
    )
    add_connection_options(download)
    download.set_defaults(pyexec_run=_download)


def _add_notebook_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to save the notebook when the job ends (file or directory; default: here)",
    )
    parser.add_argument("--no-notebook", action="store_true", help="do not save the notebook")


# --- submit ----------------------------------------------------------------------------------


def _submit(args: argparse.Namespace) -> int:
    code = args.code
    if args.code_file:
        code = _read_code(args.code_file)
    if not args.prompt and not code:
        raise UsageError("give a prompt, --code or --code-file")
    client = client_from(args)
    err = stderr_console()
    file_ids = []
    for ref in args.file:
        path = Path(ref).expanduser()
        if path.is_file():
            if not args.json:
                err.print(f"uploading {safe_text(path.name)} …", highlight=False, markup=False)
            file_ids.append(client.files.upload(path).id)
        elif ref.startswith("file_"):
            file_ids.append(ref)
        else:
            raise UsageError(f"{ref}: no such file (give a path, or a file id like file_…)")
    job = client.jobs.create(
        prompt=args.prompt,
        code=code,
        files=file_ids,
        title=args.title,
        priority=args.priority,
        timeout_seconds=args.timeout_seconds,
        parent=args.parent,
    )
    if args.wait:
        return _follow(client, job.id, args)
    if args.json:
        print_json(job.to_dict())
        return OK
    out = stdout_console()
    out.print(f"submitted job {job.id} ({job.status})", markup=False)
    err.print(
        f"follow it: pyexec jobs watch {job.id}\nresult:    pyexec jobs show {job.id}",
        markup=False,
        style="dim",
    )
    return OK


def _read_code(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None


def _follow(client: PyExec, job_id: str, args: argparse.Namespace) -> int:
    """Follow a job to its end: live progress (or, with --json, a quiet long poll)."""
    err = stderr_console()
    try:
        if args.json:
            job: JobData = client.jobs.wait(job_id)
        else:
            from pyexec_client.cli._progress import Progress

            ended = Progress(err).follow(client.jobs.stream(job_id))
            job = ended if ended is not None else client.jobs.get(job_id)
    except KeyboardInterrupt:
        err.print(
            f"\nstopped following job {job_id}; it goes on on the server:\n"
            f"  pyexec jobs watch {job_id}    pyexec jobs cancel {job_id}",
            markup=False,
        )
        return INTERRUPTED
    saved = _save_notebook(client, job, args, err)
    if args.json:
        print_json(job.to_dict())
    else:
        from pyexec_client.cli._render import render_job

        out = stdout_console()
        out.print()
        render_job(out, job)
        if saved is not None:
            out.print()
            out.print(f"notebook: {saved}", markup=False)
            out.print(f"open it in JupyterLab: pyexec open {job.id}", markup=False, style="dim")
    return OK if job.succeeded else JOB_FAILED


def _save_notebook(client: PyExec, job: JobData, args: argparse.Namespace, err: Any) -> Path | None:
    # With --json, stdout is the job alone: the notebook is saved only when asked for (-o).
    if args.no_notebook or (args.json and not args.output):
        return None
    try:
        return client.jobs.download_notebook(job.id, args.output)
    except NotFoundError:
        err.print(f"no notebook: job {job.id} ended before it ran", markup=False, style="dim")
        return None


# --- jobs ------------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    client = client_from(args)
    limit = None if args.all else max(1, args.limit)
    jobs = list(client.jobs.list(status=args.status, limit=limit, page_size=min(limit or 100, 100)))
    if args.json:
        print_json([j.to_dict() for j in jobs])
        return OK
    from pyexec_client.cli._render import jobs_table

    if not jobs:
        stderr_console().print("no jobs" + (f" {args.status}" if args.status else ""))
        return OK
    stdout_console().print(jobs_table(jobs))
    return OK


def _show(args: argparse.Namespace) -> int:
    job = client_from(args).jobs.get(args.job_id, wait=args.wait or None)
    if args.json:
        print_json(job.to_dict())
        return OK
    from pyexec_client.cli._render import render_job

    render_job(stdout_console(), job)
    return OK


def _watch(args: argparse.Namespace) -> int:
    client = client_from(args)
    if not args.json:
        return _follow(client, args.job_id, args)
    job = None
    try:
        for event in client.jobs.stream(args.job_id):
            sys.stdout.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            if isinstance(event, ResultEvent):
                job = event.job
    except KeyboardInterrupt:
        return INTERRUPTED
    if job is None:
        job = client.jobs.get(args.job_id)
    return OK if job.succeeded else JOB_FAILED


def event_json(event: JobEvent) -> dict[str, Any]:
    if isinstance(event, ResultEvent):
        return {"type": "result", "id": None, "job": event.job.to_dict()}
    return dataclasses.asdict(event)


def _cancel(args: argparse.Namespace) -> int:
    job = client_from(args).jobs.cancel(args.job_id)
    if args.json:
        print_json(job.to_dict())
    else:
        stdout_console().print(f"job {job.id} is {job.status}", markup=False)
    return OK


def _delete(args: argparse.Namespace) -> int:
    client_from(args).jobs.delete(args.job_id)
    stdout_console().print(f"deleted job {args.job_id}", markup=False)
    return OK


def _download(args: argparse.Namespace) -> int:
    jobs = client_from(args).jobs
    if args.bundle:
        path = jobs.download_bundle(args.job_id, args.output)
    elif args.html:
        path = jobs.download_notebook_html(args.job_id, args.output)
    elif args.artifact:
        path = jobs.download_artifact(args.job_id, args.artifact, args.output)
    else:
        path = jobs.download_notebook(args.job_id, args.output)
    print(path)
    return OK
