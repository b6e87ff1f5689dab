"""Typed errors with stable codes.

Every failure the runtime reports carries a ``code``: a short snake_case string that hosts,
tests and models can rely on. Codes are part of the compatibility surface; messages are not.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorOutcome = Literal["definitive", "ambiguous"]


class AgentcycleError(Exception):
    """Base class of every error raised by agentcycle."""

    code: str = "agentcycle_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description: ``{"code", "message", "details"}``."""
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigurationError(AgentcycleError):
    """Settings, agent or run configuration that cannot work (caught before a run starts)."""

    code = "configuration_error"


class SettingsFileError(ConfigurationError):
    """A settings file that cannot be read or has the wrong shape."""

    code = "invalid_settings_file"


class InvalidStoreUrl(ConfigurationError):
    """A store URL whose scheme or shape no store accepts; the message lists the accepted
    forms."""

    code = "invalid_store_url"


class AgentsFileError(ConfigurationError):
    """An agents file (the CLI's ``--agents``) that cannot be read or describes a team that
    cannot work; the message names the file and the offending key."""

    code = "invalid_agents_file"


class ModelNotFoundError(ConfigurationError):
    """An unknown backend or model; the message lists what exists."""

    code = "model_not_found"


class ModelError(AgentcycleError):
    """A model call failed.

    ``retryable`` says whether the same request may succeed later; ``outcome`` says whether the
    provider surely did not act (``definitive``) or may have (``ambiguous``, e.g. a stream cut
    mid-answer).
    """

    code = "model_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool = False,
        status_code: int | None = None,
        outcome: ErrorOutcome = "definitive",
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.retryable = retryable
        self.status_code = status_code
        self.outcome = outcome
        self.retry_after = retry_after


class PromptTooLongError(ModelError):
    """The provider rejected the prompt as longer than the model's context window."""

    code = "prompt_too_long"


class ContextExhaustedError(AgentcycleError):
    """The prompt does not fit the model's context window even after compaction: the provider
    kept rejecting it as too long, or nothing was left to compact. ``details`` holds the number
    of recovery attempts and the estimated prompt tokens."""

    code = "context_exhausted"


class ToolDefinitionError(ConfigurationError):
    """A tool whose definition is invalid (bad schema, duplicate name, unsupported signature)."""

    code = "invalid_tool_definition"


class RunFailedError(AgentcycleError):
    """Raised by helpers that insist on a completed run when the run failed."""

    code = "run_failed"


class MaxCyclesExceeded(AgentcycleError):
    """The run used its cycle budget without an explicit finish."""

    code = "max_cycles"


class BudgetExhaustedError(AgentcycleError):
    """A limit of the run's ``RunBudget`` was reached.

    ``limit`` names it (``max_total_tokens``, ``max_tool_calls``, ``max_tool_calls_per_tool``,
    ``max_wall_seconds``, ``max_cost_usd``), ``limit_value`` is its value, ``tool`` the tool for
    a per-tool limit, and ``used`` every counter of the run at that point. ``details`` holds the
    same, JSON-safe."""

    code = "budget_exhausted"

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        limit_value: float,
        used: dict[str, Any],
        tool: str | None = None,
    ) -> None:
        details: dict[str, Any] = {"limit": limit, "limit_value": limit_value, "used": used}
        if tool is not None:
            details["tool"] = tool
        super().__init__(message, details=details)
        self.limit = limit
        self.limit_value = limit_value
        self.used = used
        self.tool = tool


class InvalidToolCallsExceeded(AgentcycleError):
    """Too many consecutive malformed tool calls from the model."""

    code = "too_many_invalid_tool_calls"


class OutputValidationError(AgentcycleError):
    """The final output did not validate against the agent's ``output_type``."""

    code = "invalid_final_output"


class OutputValidationFailed(AgentcycleError):
    """The run's final output was rejected (by its ``output_type`` or its output validator)
    and no repair made it acceptable; the run ends ``failed`` with the rejected candidate as
    its partial output. ``details`` holds the last rejection (``code``, ``message``,
    ``details``) and, when a repair call failed, ``repair_error``."""

    code = "output_validation_failed"


class OutputValidatorFailed(AgentcycleError):
    """An output validator raised, or returned something other than ``None`` or ``Reject``;
    ``details`` holds ``error_type`` and ``error``."""

    code = "output_validator_failed"


class GuardrailTripped(AgentcycleError):
    """A guardrail stopped the run (code ``guardrail_tripped`` unless its ``Tripwire`` chose
    another); ``details`` holds ``guardrail``, ``stage`` and the tripwire's ``details``."""

    code = "guardrail_tripped"


class GuardrailFailed(AgentcycleError):
    """A guardrail raised, or returned something other than ``None`` or ``Tripwire``; the run
    fails closed. ``details`` holds ``guardrail``, ``stage``, ``error_type`` and ``error``."""

    code = "guardrail_failed"


class HookFailedError(AgentcycleError):
    """A runtime hook raised (or returned something it may not) at one of its points. The
    message names the hook and the point; ``details`` holds ``hook``, ``point``,
    ``error_type`` and ``error``."""

    code = "hook_failed"


class RunStoppedByHook(AgentcycleError):
    """A hook's ``after_cycle`` decided to stop the run; the code is the one the hook chose
    (``stopped_by_hook`` unless it set another)."""

    code = "stopped_by_hook"


class UnsupportedVersionError(AgentcycleError):
    """A serialised shape (event, state, checkpoint) carries a version this build cannot read."""

    code = "unsupported_version"


class PathEscapesWorkspace(AgentcycleError):
    """A path that would leave the workspace root."""

    code = "path_escapes_workspace"


class WorkspaceError(AgentcycleError):
    """A workspace operation failed (not found, not a file, already exists ...)."""

    code = "workspace_error"


class ToolArgumentsError(AgentcycleError):
    """Tool-call arguments that are not a JSON object (code ``invalid_arguments_json``) or do
    not match the tool's schema (code ``invalid_tool_arguments``)."""

    code = "invalid_tool_arguments"


class FileNotFoundInWorkspace(WorkspaceError):
    """The workspace path does not exist."""

    code = "file_not_found"


class WorkspaceFileExists(WorkspaceError):
    """The target already exists (exclusive create, or a move onto an existing path)."""

    code = "file_exists"


class WorkspaceIsADirectory(WorkspaceError):
    """A file operation was given a directory."""

    code = "is_a_directory"


class WorkspaceNotADirectory(WorkspaceError):
    """A directory operation was given a file, or a parent component of a path is a file."""

    code = "not_a_directory"


class WorkspaceNotAFile(WorkspaceError):
    """The path exists but is neither a regular file nor a directory (a FIFO, socket, device)."""

    code = "not_a_file"


class WorkspaceDirectoryNotEmpty(WorkspaceError):
    """A non-recursive delete of a directory that still has entries."""

    code = "directory_not_empty"


class WorkspaceConflict(WorkspaceError):
    """A concurrent writer changed the file while this operation was under way."""

    code = "concurrent_modification"


class UnsupportedFileEncoding(WorkspaceError):
    """A text read of a file that is not valid UTF-8."""

    code = "unsupported_encoding"


class WorkspaceStorageError(WorkspaceError):
    """The storage underneath failed (permissions, network, missing bucket ...)."""

    code = "storage_error"


class SkillError(AgentcycleError):
    """A skill directory that cannot be loaded. Discovery reports it as an issue of that one
    skill (``SkillCatalog.issues``) and keeps loading the others."""

    code = "invalid_skill"


class SkillFileMissing(SkillError):
    """A directory under a skills root without a ``SKILL.md``."""

    code = "skill_file_missing"


class SkillUnreadable(SkillError):
    """``SKILL.md`` could not be read, or is not UTF-8 text."""

    code = "unreadable_skill"


class SkillFrontmatterError(SkillError):
    """``SKILL.md`` has no ``---`` delimited frontmatter, malformed YAML, or YAML that is not a
    mapping (duplicate keys included)."""

    code = "invalid_skill_frontmatter"


class MissingSkillField(SkillError):
    """A required field (``name``, ``description``, the instructions body) is missing or
    empty."""

    code = "missing_skill_field"


class InvalidSkillField(SkillError):
    """A field of the wrong type or shape (``allowed-tools`` entries, ``metadata``)."""

    code = "invalid_skill_field"


class InvalidSkillName(SkillError):
    """A skill name that is not 1..64 lowercase letters, digits and single inner hyphens."""

    code = "invalid_skill_name"


class SkillNameMismatch(SkillError):
    """The frontmatter ``name`` differs from the skill's directory name."""

    code = "skill_name_mismatch"


class SkillTooLarge(SkillError):
    """``SKILL.md`` or its description is over its size limit."""

    code = "skill_too_large"


class DuplicateSkill(SkillError):
    """A second skill with a name already loaded from an earlier directory (the first wins)."""

    code = "duplicate_skill"


class SkillNotFound(SkillError):
    """``activate_skill`` was given a name the run does not list."""

    code = "skill_not_found"


class EventStoreError(AgentcycleError):
    """An event store could not read or write events."""

    code = "event_store_error"


class CorruptEventRecord(EventStoreError):
    """A stored event that cannot be read back. ``path`` names the store's file; ``line`` is the
    1-based line of a JSONL store, ``row`` the row position of a SQLite store."""

    code = "corrupt_event_record"

    def __init__(
        self, message: str, *, path: str, line: int | None = None, row: int | None = None
    ) -> None:
        super().__init__(message, details={"path": path, "line": line, "row": row})
        self.path = path
        self.line = line
        self.row = row


class EventSeqConflict(EventStoreError):
    """A different event was already stored at the same ``(run_id, seq)``: two writers
    continued the same run."""

    code = "event_seq_conflict"


class EventStoreWriteError(EventStoreError):
    """Events of a run could not be persisted to ``RunConfig.event_store``. ``result`` holds the
    run's result (the run itself went on); ``persisted_through_seq`` is the last ``seq`` of the
    run known to be stored."""

    code = "event_store_write_failed"

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        persisted_through_seq: int | None,
        cause: BaseException,
    ) -> None:
        cause_code = cause.code if isinstance(cause, AgentcycleError) else type(cause).__name__
        super().__init__(
            message,
            details={
                "run_id": run_id,
                "persisted_through_seq": persisted_through_seq,
                "cause_code": cause_code,
                "cause": str(cause),
            },
        )
        self.run_id = run_id
        self.persisted_through_seq = persisted_through_seq
        self.result: Any = None


class SessionError(AgentcycleError):
    """A session operation failed (also code ``invalid_session_item`` for an item that is not
    a message, ``invalid_session_limit`` for a negative ``limit``)."""

    code = "session_error"


class SessionCorrupt(SessionError):
    """A stored session item is not a valid message; the message names the session and the
    item's position (0 = oldest)."""

    code = "session_corrupt"


class SessionStorageError(SessionError):
    """The store under a session failed (database locked too long, connection refused ...)."""

    code = "session_storage_error"


class ChatSessionError(AgentcycleError):
    """A ``ChatSession`` was used in a way it cannot serve."""

    code = "chat_session_error"


class ChatSessionClosed(ChatSessionError):
    """The chat session is closed: it takes no input and starts no run."""

    code = "chat_session_closed"


class ChatSessionBusy(ChatSessionError):
    """``prompt`` while a run is going or inputs are queued: ``steer`` or ``follow_up``
    say what should happen to the new input."""

    code = "chat_session_busy"


class StreamPositionError(ChatSessionError):
    """A replay position the chat session's stream cannot serve: ahead of its last entry, or
    behind what it still keeps (``details`` holds ``first_kept`` and ``last``)."""

    code = "stream_position_unavailable"


class SessionMemoryError(AgentcycleError):
    """Session memory could not be used: its store failed, or an extraction was unusable."""

    code = "session_memory_error"


class SessionMemoryCorrupt(SessionMemoryError):
    """A stored session memory is not a valid notes file (it is left as it is)."""

    code = "session_memory_corrupt"


class InvalidNotesExtraction(SessionMemoryError):
    """The model's answer to a session memory extraction is not the JSON object asked for."""

    code = "invalid_notes_extraction"


class CheckpointStoreError(AgentcycleError):
    """A checkpoint store (the durable run log) refused or could not perform an operation."""

    code = "checkpoint_store_error"


class InvalidCheckpointRequest(CheckpointStoreError):
    """A call to a checkpoint store with arguments that can never succeed (an empty batch, a
    payload that is not JSON, a non-positive lease TTL ...); nothing was written."""

    code = "invalid_checkpoint_request"


class RunNotFound(CheckpointStoreError):
    """The checkpoint store has no run with this id (``create_run`` was never called)."""

    code = "run_not_found"


class SeqConflict(CheckpointStoreError):
    """An append did not continue the log where the writer expected: the run's last ``seq`` is
    not ``expected_seq - 1``, or a different record is stored at that ``seq``. Nothing was
    written; the writer re-reads the head (``details`` holds ``expected_seq`` and
    ``last_seq``)."""

    code = "seq_conflict"


class DuplicateRecordKey(SeqConflict):
    """A record's ``key`` is already stored in the run at another ``seq``: the logical record
    was written before, and a key never takes a second ``seq``. Nothing was written."""

    code = "duplicate_record_key"


class Fenced(CheckpointStoreError):
    """An append carried a lease epoch that is no longer the run's: another owner took the run
    over. Nothing was written; the writer must stop (``details`` holds both epochs)."""

    code = "fenced"


class RunTerminated(CheckpointStoreError):
    """The run's log ends with a ``terminal`` record: it accepts no more records and no lease."""

    code = "run_terminated"


class CheckpointStorageError(CheckpointStoreError):
    """The storage under a checkpoint store failed (database locked too long, connection
    refused, timeout). For a mutating call the outcome is unknown: re-read ``head`` (an
    identical re-append is a no-op success)."""

    code = "checkpoint_storage_error"


class CorruptRunRecord(CheckpointStoreError):
    """A stored run record cannot be read back; ``details`` names the run and ``seq``."""

    code = "corrupt_run_record"


class LeaseLost(CheckpointStoreError):
    """A durable run lost its lease (another owner took the run over, or a heartbeat found it
    expired): this process wrote nothing more and ended its copy of the run."""

    code = "lease_lost"


class RunLeaseHeld(CheckpointStoreError):
    """The run is owned by a live lease (its process may still be running it): it cannot be
    resumed here until the lease is released or expires."""

    code = "run_lease_held"


class BrokerUnavailable(AgentcycleError):
    """The Celery broker of ``execution="celery"`` could not be reached, so the run was not
    queued (and not kept: nothing would ever run it). ``details`` holds the ``broker`` URL
    (without its password)."""

    code = "broker_unavailable"


class CrashLoop(AgentcycleError):
    """A durable run's processes kept dying in the same cycle (``Durability.max_takeovers``
    takeovers in a row without a commit): the run was ended as failed instead of being handed
    to yet another process. ``details`` holds ``run_id``, ``cycle`` and ``takeovers``."""

    code = "crash_loop"


class EffectNeedsReconciliation(AgentcycleError):
    """A resumed durable run found a tool call that may have acted (an intent with no result)
    and could not verify it; with the ``pause`` policy the run stops, resumable, until the host
    says what happened (``details`` holds ``effect_id``, ``tool_call_id``, ``tool_name``,
    ``cycle_index``, ``arguments``, ``idempotency_key`` and the tool's declared
    ``effect_class``, ``None`` when it declares none)."""

    code = "effect_needs_reconciliation"
