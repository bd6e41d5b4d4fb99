"""What a provider is: the types every adapter and the router share.

A *provider* is one vendor integration (OpenAI, Stability, Gemini, AssemblyAI) or one local
engine (Whisper on faster-whisper) that can run one or more *operations* (the provider-backed task
types of :mod:`mediatasks.core.catalog`, plus ``translation``). For each operation it
declares an :class:`Offering`: the default model, capabilities (sizes, formats, languages,
max duration...), cost per unit, and quality/speed scores between 0 and 1.

Nothing here knows a vendor: the adapters live in :mod:`mediatasks.providers.vendors`, and
:class:`~mediatasks.providers.router.ProviderRouter` picks among them.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, Protocol, TypeVar

from mediatasks.core.catalog import PROVIDER_OPERATIONS, TRANSLATION
from mediatasks.core.errors import invalid_input
from mediatasks.core.metrics import ERRORS
from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

# The operations a provider can offer are the catalog's (``PROVIDER_OPERATIONS``): the
# provider-backed task types of the same names, and ``translation``, the chat call a
# subtitle job makes when asked to translate. The names below are how code spells them.
IMAGE_GENERATION = "image_generation"
VIDEO_GENERATION = "video_generation"
VIDEO_ANALYSIS = "video_analysis"
AUDIO_TRANSCRIPTION = "audio_transcription"
OPERATIONS: tuple[str, ...] = PROVIDER_OPERATIONS
if {IMAGE_GENERATION, VIDEO_GENERATION, VIDEO_ANALYSIS, AUDIO_TRANSCRIPTION, TRANSLATION} != set(OPERATIONS):
    raise RuntimeError(f"the provider operations named here differ from the catalog's {OPERATIONS}")

T = TypeVar("T")


class Strategy(enum.StrEnum):
    """How the registry ranks the eligible providers of a task type."""

    QUALITY = "quality"
    SPEED = "speed"
    COST = "cost"
    RELIABILITY = "reliability"
    LOAD_BALANCE = "load_balance"

    @classmethod
    def parse(cls, value: str | Strategy) -> Strategy:
        """The strategy named ``value``; an unknown name is a client error."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise invalid_input(f"unknown provider strategy {value!r} (use one of {names})") from None


@dataclass(frozen=True)
class CostModel:
    """What one unit of work costs at a vendor's list price, in US dollars.

    The unit is the same for every provider of one task type (``image``, ``audio_minute``,
    ``video_second``, ``video_minute``, ``1k_tokens``) so that the ``cost`` strategy
    compares like with like; adapters compute the actual cost of each call from the
    vendor's answer (tokens, seconds) and report it in their result's ``cost_usd``.
    """

    usd_per_unit: float
    unit: str


@dataclass(frozen=True)
class Offering:
    """One task type as one provider runs it."""

    task_type: str
    model: str
    quality: float
    speed: float
    cost: CostModel
    capabilities: Mapping[str, Any] = field(default_factory=dict)
    # The vendor's announced shutdown date for this API, if any: past it the registry
    # stops choosing the offering (the adapter stays callable for compatible servers).
    available_until: date | None = None
    # The models a request may pin besides ``model``, each with the capabilities that
    # differ from the offering's (dall-e-3's sizes, say). A pinned model that is neither
    # is not offered here, so the router looks for a provider that offers it.
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def model_names(self) -> list[str]:
        """Every model a request may pin on this offering, the default first."""
        return list(dict.fromkeys([self.model, *self.models]))

    def capabilities_for(self, model: str | None) -> Mapping[str, Any] | None:
        """What the offering can do with ``model`` (``None``: the adapter's own choice of
        model), or ``None`` when it does not offer that model."""
        if model and model in self.models:
            return {**self.capabilities, **self.models[model]}
        if not model or model == self.model:
            return self.capabilities
        return None

    def __post_init__(self) -> None:
        if self.task_type not in OPERATIONS:
            raise ValueError(f"{self.task_type!r} is no provider operation (one of {', '.join(OPERATIONS)})")
        if not (0.0 <= self.quality <= 1.0 and 0.0 <= self.speed <= 1.0):
            raise ValueError(f"{self.task_type}: quality and speed must be within 0..1")


@dataclass(frozen=True)
class ProviderSpec:
    """What a provider is: its name, vendor, offerings and the settings it needs."""

    name: str
    vendor: str
    offerings: tuple[Offering, ...]
    required_settings: tuple[str, ...] = ()
    optional_settings: tuple[str, ...] = ()

    @property
    def task_types(self) -> frozenset[str]:
        return frozenset(o.task_type for o in self.offerings)

    def offering(self, task_type: str) -> Offering | None:
        for offering in self.offerings:
            if offering.task_type == task_type:
                return offering
        return None

    def configured(self, settings: Settings) -> bool:
        """True when every required setting is set (and not a placeholder)."""
        return all(settings.is_configured(name) for name in self.required_settings)

    def required_env(self, settings: Settings) -> list[str]:
        return [settings.env_name(name) for name in self.required_settings]


@dataclass(frozen=True)
class HealthStatus:
    """A provider's own view of whether it can take work."""

    ok: bool
    detail: str = ""


class Provider:
    """Base class of every provider. Subclasses set :attr:`spec` and implement the
    operation methods of their task types (see :mod:`mediatasks.providers.contracts`)."""

    spec: ClassVar[ProviderSpec]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def vendor(self) -> str:
        return self.spec.vendor

    def configured(self, settings: Settings | None = None) -> bool:
        """True when the settings this provider needs are present."""
        return self.spec.configured(settings or self.settings)

    async def health(self) -> HealthStatus:
        """A cheap local check (no paid vendor call); the registry's circuit breaker
        tracks what the vendor actually does."""
        if not self.configured():
            names = " and ".join(self.spec.required_env(self.settings))
            return HealthStatus(False, f"not configured: set {names}")
        return HealthStatus(True, "configured")

    def deadline(self, ctx: CallContext | None) -> float:
        """Seconds one call may take: the provider timeout, shortened by the caller's."""
        limit = float(self.settings.provider_timeout_seconds)
        if ctx is not None and ctx.timeout_seconds is not None:
            limit = min(limit, float(ctx.timeout_seconds))
        return max(limit, 0.001)

    async def aclose(self) -> None:
        """Release clients and connection pools."""


ProgressCallback = Callable[[float, str], Awaitable[None] | None]


@dataclass
class CallContext:
    """Per-call state shared by the handler and the provider that runs its call.

    The handler creates it, may set a tighter ``timeout_seconds`` and an ``on_progress``
    callback, and reads back after the call (or after cancelling it) which provider ran
    it, the vendor's job id, and whether the vendor confirmed a cancellation:
    ``cancel_confirmed`` stays ``None`` unless the call was cancelled, then is ``True``
    only when the vendor acknowledged the cancel, ``False`` when the call was merely
    abandoned on our side (the vendor may finish and bill it).
    """

    timeout_seconds: float | None = None
    on_progress: ProgressCallback | None = None
    provider: str = ""
    vendor_job_id: str = ""
    cancel_confirmed: bool | None = None
    attempts: list[str] = field(default_factory=list)

    async def progress(self, percent: float, stage: str) -> None:
        """Tell the handler how far the vendor got; a failing callback never fails the call."""
        if self.on_progress is None:
            return
        try:
            outcome = self.on_progress(max(0.0, min(100.0, percent)), stage)
            if inspect.isawaitable(outcome):
                await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("progress callback failed")
            ERRORS.labels("providers", "PROGRESS_CALLBACK").inc()


class ProviderResult(Protocol):
    """What every provider result carries, so the registry can account for it."""

    provider: str
    model: str
    cost_usd: float


# --- capability matching ---------------------------------------------------------------

# requirement key -> capability holding the largest accepted value
_LIMITS = {
    "duration_seconds": "max_duration_seconds",
    "file_bytes": "max_file_bytes",
    "n": "max_images",
    "texts": "max_texts",
}
# requirement key -> capability listing accepted values ("*" accepts anything)
_MEMBERSHIP = {
    "language": "languages",
    "size": "sizes",
    "output_format": "output_formats",
    "seconds": "durations",
}


def normalize_language(code: str) -> str:
    """``en-US`` / ``en_us`` / ``EN`` -> ``en`` (ISO 639-1 primary subtag)."""
    return code.strip().lower().replace("_", "-").split("-", 1)[0]


def unmet_by_offering(offering: Offering, require: Mapping[str, Any]) -> str | None:
    """Why ``offering`` cannot serve a request, or ``None`` when it can: a pinned
    ``model`` it does not offer (naming the ones it does), else what the model's
    capabilities lack (:func:`unmet_requirement`)."""
    rest = dict(require)
    model = rest.pop("model", None)
    capabilities = offering.capabilities_for(model)
    if capabilities is None:
        return f"model {model} not offered (offers {', '.join(offering.model_names)})"
    unmet = unmet_requirement(capabilities, rest)
    if unmet is not None and model:
        return f"{unmet} with model {model}"
    if unmet is not None and offering.models:
        # Another model of the same provider may do it (dall-e-3 makes 1792x1024).
        fits = [
            name for name in offering.model_names if not unmet_requirement(offering.capabilities_for(name) or {}, rest)
        ]
        if fits:
            return f"{unmet} by default; pin model {' or '.join(fits)}"
    return unmet


def unmet_requirement(capabilities: Mapping[str, Any], require: Mapping[str, Any]) -> str | None:
    """Why an offering cannot serve a request, or ``None`` when it can.

    ``require`` keys: ``language``, ``size``, ``output_format``, ``seconds`` (membership in
    the matching capability list), ``duration_seconds``, ``file_bytes``, ``n``, ``texts``
    (at most the matching ``max_*`` capability), and any boolean feature flag such as
    ``speaker_labels`` or ``video_input`` (the capability must be true). ``None``/``False``
    values require nothing.
    """
    for key, wanted in require.items():
        if wanted is None or wanted is False:
            continue
        if key in _LIMITS:
            limit = capabilities.get(_LIMITS[key])
            if limit is not None and float(wanted) > float(limit):
                return f"{key} {wanted} exceeds {limit}"
        elif key in _MEMBERSHIP:
            accepted = capabilities.get(_MEMBERSHIP[key])
            if accepted is None or accepted == "*":
                continue
            value = normalize_language(str(wanted)) if key == "language" else str(wanted)
            if value not in {str(a) for a in accepted}:
                return f"{key} {wanted} not supported"
        elif wanted is True:
            if not capabilities.get(key):
                return f"{key} not supported"
        else:
            raise ValueError(f"unknown provider requirement {key!r}")
    return None
