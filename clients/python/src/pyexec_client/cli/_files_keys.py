"""`pyexec files upload|list|show|download|delete` and `pyexec keys create|list|revoke`."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyexec_client.cli._common import (
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
from pyexec_client.models import ALL_SCOPES


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    files = sub.add_parser("files", help="upload, list, download and delete files")
    files_sub = files.add_subparsers(dest="files_command", required=True, metavar="COMMAND")

    upload = files_sub.add_parser("upload", help="upload files (streamed); prints their ids")
    upload.add_argument("paths", nargs="+", metavar="PATH")
    add_json_option(upload)
    add_connection_options(upload)
    upload.set_defaults(pyexec_run=_upload)

    listing = files_sub.add_parser("list", help="this account's files, newest first")
    listing.add_argument("-n", "--limit", type=int, default=20, help="at most this many (20)")
    listing.add_argument("--all", action="store_true", help="every file, page after page")
    add_json_option(listing)
    add_connection_options(listing)
    listing.set_defaults(pyexec_run=_list)

    show = files_sub.add_parser("show", help="a file's metadata")
    show.add_argument("file_id", metavar="FILE_ID")
    add_json_option(show)
    add_connection_options(show)
    show.set_defaults(pyexec_run=_show)

    download = files_sub.add_parser("download", help="save a file's bytes")
    download.add_argument("file_id", metavar="FILE_ID")
    download.add_argument("-o", "--output", metavar="PATH", help="file or directory")
    add_connection_options(download)
    download.set_defaults(pyexec_run=_download)

    delete = files_sub.add_parser("delete", help="delete a file")
    delete.add_argument("file_id", metavar="FILE_ID")
    add_connection_options(delete)
    delete.set_defaults(pyexec_run=_delete)

    keys = sub.add_parser(
        "keys",
        help="manage your account's API keys (needs keys:manage)",
        description="Your own account's keys, over the API. (Operators manage any account's "
        "keys on the server with `pyexec accounts keys`.)",
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    create = keys_sub.add_parser("create", help="create a key; it is shown this once (last line)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scopes",
        metavar="SCOPES",
        help=f"comma-separated; default: all ({','.join(ALL_SCOPES)})",
    )
    create.add_argument("--email", help=argparse.SUPPRESS)  # the operator's form, redirected
    add_json_option(create)
    add_connection_options(create)
    create.set_defaults(pyexec_run=_key_create)

    key_list = keys_sub.add_parser("list", help="your keys (never the keys themselves)")
    add_json_option(key_list)
    add_connection_options(key_list)
    key_list.set_defaults(pyexec_run=_key_list)

    revoke = keys_sub.add_parser("revoke", help="revoke a key: it fails from the next request")
    revoke.add_argument("key_id", metavar="KEY_ID")
    add_connection_options(revoke)
    revoke.set_defaults(pyexec_run=_key_revoke)


# --- files -----------------------------------------------------------------------------------


def _upload(args: argparse.Namespace) -> int:
    paths = [Path(p).expanduser() for p in args.paths]
    for path in paths:  # all found before the first byte goes
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    client = client_from(args)
    uploaded = []
    for path in paths:
        if not args.json:
            stderr_console().print(f"uploading {safe_text(path.name)} …", markup=False)
        uploaded.append(client.files.upload(path))
    if args.json:
        print_json([f.to_dict() for f in uploaded])
        return OK
    from pyexec_client.cli._render import files_table

    stdout_console().print(files_table(uploaded))
    return OK


def _list(args: argparse.Namespace) -> int:
    limit = None if args.all else max(1, args.limit)
    files = list(client_from(args).files.list(limit=limit, page_size=min(limit or 100, 100)))
    if args.json:
        print_json([f.to_dict() for f in files])
        return OK
    if not files:
        stderr_console().print("no files")
        return OK
    from pyexec_client.cli._render import files_table

    stdout_console().print(files_table(files))
    return OK


def _show(args: argparse.Namespace) -> int:
    file = client_from(args).files.get(args.file_id)
    if args.json:
        print_json(file.to_dict())
        return OK
    from pyexec_client.cli._render import files_table

    stdout_console().print(files_table([file]))
    return OK


def _download(args: argparse.Namespace) -> int:
    print(client_from(args).files.download(args.file_id, args.output))
    return OK


def _delete(args: argparse.Namespace) -> int:
    client_from(args).files.delete(args.file_id)
    stdout_console().print(f"deleted file {args.file_id}", markup=False)
    return OK


# --- keys ------------------------------------------------------------------------------------


def _key_create(args: argparse.Namespace) -> int:
    if args.email:
        raise UsageError(
            "`pyexec keys` manages your own keys over the API (no --email); an operator "
            "creates a key for any account on the server: pyexec accounts keys create --email …"
        )
    scopes = None
    if args.scopes is not None:
        scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
        unknown = [s for s in scopes if s not in ALL_SCOPES]
        if unknown or not scopes:
            raise UsageError(
                f"--scopes: unknown scope(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {','.join(ALL_SCOPES)}"
            )
    created = client_from(args).api_keys.create(args.name, scopes=scopes)
    if args.json:
        print_json(created.to_dict())
        return OK
    err = stderr_console()
    err.print(
        f"created key {created.id} ({safe_text(created.name)}, prefix {created.prefix}, "
        f"scopes {','.join(created.scopes)}); it is shown this once:",
        markup=False,
    )
    print(created.key)
    return OK


def _key_list(args: argparse.Namespace) -> int:
    keys = client_from(args).api_keys.list()
    if args.json:
        print_json([k.to_dict() for k in keys])
        return OK
    from pyexec_client.cli._render import keys_table

    stdout_console().print(keys_table(keys))
    return OK


def _key_revoke(args: argparse.Namespace) -> int:
    client_from(args).api_keys.revoke(args.key_id)
    stdout_console().print(f"revoked key {args.key_id}", markup=False)
    return OK
