"""All SQL of PyExec, one module per domain. Functions take a session; the request or task
boundary commits.

Callers use the package as one namespace (`repository.add_job(session, job)`); the modules
are how it is kept, not how it is called.
"""

from pyexec.core.repository.accounts import (
    create_account,
    get_account,
    get_account_by_email,
    set_account_plan,
)
from pyexec.core.repository.api_keys import (
    add_api_key,
    find_caller_key,
    list_api_keys,
    revoke_api_key,
    touch_api_key_if_stale,
)
from pyexec.core.repository.cursors import decode_cursor, encode_cursor
from pyexec.core.repository.files import add_file, delete_file, get_file, get_files, list_files
from pyexec.core.repository.idempotency import (
    add_idempotency_key,
    delete_idempotency_keys_before,
    find_idempotency_key,
)
from pyexec.core.repository.jobs import (
    add_job,
    cancel_pending,
    claim_job,
    delete_job,
    fail_orphan,
    finish_job,
    get_job,
    job_counts_by_day,
    job_owner_plan,
    jobs_with_status,
    lineage_file_ids,
    list_jobs,
    request_cancel,
    requeue_job,
    requeue_orphan,
)
from pyexec.core.repository.request_counts import (
    count_request,
    delete_request_counts_before,
    request_counts_between,
)
from pyexec.core.repository.storage import (
    release_job_storage,
    release_storage,
    reserve_storage,
    storage_used,
)
from pyexec.core.repository.webhooks import (
    claim_due_webhook,
    drop_webhook,
    record_webhook_attempt,
    release_webhook_claim,
    rotate_webhook_secret,
    schedule_webhook,
    webhook_deliveries,
    webhook_secret,
)

__all__ = [
    "add_api_key",
    "add_file",
    "add_idempotency_key",
    "add_job",
    "cancel_pending",
    "claim_due_webhook",
    "claim_job",
    "count_request",
    "create_account",
    "decode_cursor",
    "delete_file",
    "delete_idempotency_keys_before",
    "delete_job",
    "delete_request_counts_before",
    "drop_webhook",
    "encode_cursor",
    "fail_orphan",
    "find_caller_key",
    "find_idempotency_key",
    "finish_job",
    "get_account",
    "get_account_by_email",
    "get_file",
    "get_files",
    "get_job",
    "job_counts_by_day",
    "job_owner_plan",
    "jobs_with_status",
    "lineage_file_ids",
    "list_api_keys",
    "list_files",
    "list_jobs",
    "record_webhook_attempt",
    "release_job_storage",
    "release_storage",
    "release_webhook_claim",
    "request_cancel",
    "request_counts_between",
    "requeue_job",
    "requeue_orphan",
    "reserve_storage",
    "revoke_api_key",
    "rotate_webhook_secret",
    "schedule_webhook",
    "set_account_plan",
    "storage_used",
    "touch_api_key_if_stale",
    "webhook_deliveries",
    "webhook_secret",
]
