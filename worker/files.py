"""`StoredInputs`: a job's uploaded files, copied from storage into its kernel's work dir."""

from __future__ import annotations

from pyexec.core import repository
from pyexec.core.models import File, Job
from pyexec.core.runtime import Runtime
from pyexec.kernels import FileUnavailableError, KernelFiles
from pyexec.worker.inputs import StagedFile

# Read-only for the job's code. (Permission bits bind a kernel running as an unprivileged
# user; the stored original is never exposed either way, since the job gets a copy.)
INPUT_MODE = 0o444


class InputUnavailable(FileNotFoundError):
    """A file the job names cannot be staged; the message says which and why."""


class StoredInputs:
    """Places each of a job's files in the work dir under its (sanitised) filename."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def stage(self, job: Job, files: KernelFiles) -> list[StagedFile]:
        if not job.file_ids:
            return []
        async with self.runtime.db.session() as session:
            stored = await repository.get_files(session, job.file_ids, job.account_id)
        staged: list[StagedFile] = []
        names: set[str] = set()
        for file_id in job.file_ids:
            file = stored.get(file_id)
            if file is None:
                raise InputUnavailable(f"input file {file_id} was deleted before the job ran")
            if file.filename.casefold() in names:
                raise InputUnavailable(f"two input files are named '{file.filename}'")
            names.add(file.filename.casefold())
            staged.append(await self._copy(file, files))
        return staged

    async def _copy(self, file: File, files: KernelFiles) -> StagedFile:
        source = self.runtime.storage.file_path(file.id)
        try:
            size = await files.put(file.filename, source, mode=INPUT_MODE)
        except FileNotFoundError:
            raise InputUnavailable(
                f"input file {file.id} ('{file.filename}') has no stored content"
            ) from None
        except FileUnavailableError as exc:
            raise InputUnavailable(f"input file {file.id} cannot be staged: {exc}") from None
        return StagedFile(file.filename, size, file.media_type)
