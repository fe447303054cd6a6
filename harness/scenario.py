"""Scenario files: YAML behind typed models, with errors that point at ``file:line``.

A scenario today is one phase: ``load`` runs for ``duration`` while ``timeline`` applies
and reverts faults. Multi-step scenarios will add a ``steps:`` list whose items carry
their own ``name``, ``duration``, ``load`` and ``timeline`` (mutually exclusive with the
top-level ones); ``Scenario.phases()`` is the seam the runner already iterates over, so
existing single-phase files keep their meaning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.compare import Tolerances
from harness.errors import ScenarioError
from harness.lab.external import ENDPOINT_VARIABLES, FROM_ENV, parse_endpoint
from harness.loadsplit import MAX_PROCESSES, split_problems
from harness.overrides import Override, name_duration
from harness.overrides import apply as apply_overrides
from harness.profiles import (
    PROFILE_MODELS,
    SWEEP_SHAPES,
    Profile,
    profile_problems,
    sweep_duration,
)
from harness.thresholds import ThresholdsSpec
from harness.units import ByteSize, Duration, format_duration, size_between
from harness.workloads.params import WORKLOAD_INFO, WORKLOAD_SERVICE_KINDS, WORKLOADS
from harness.yamlmarks import Path_, YamlProblem, line_for, load_with_marks


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DiskSpec(_Model):
    """A filesystem the lab makes for one service's data, so disk faults have something
    real to fill, remount or fail: a loop-mounted ext4 image or a tmpfs (needs root)."""

    size: Annotated[ByteSize, size_between(4 << 20, 64 << 30)] = Field(
        64 << 20, description="filesystem size, bytes (64MiB, 512MiB...)"
    )
    fs: Literal["ext4", "tmpfs"] = Field(
        "ext4", description="ext4 on a loop device (a real block device) or tmpfs (memory)"
    )
    io_errors: bool = Field(
        False, description="run the service under libfiu's fiu-run -x, for disk.io_error"
    )


class RedisServiceSpec(_Model):
    kind: Literal["redis"] = "redis"
    durability: Literal["off", "always", "everysec", "no", "rdb"] = Field(
        "everysec",
        description="AOF fsync policy: always | everysec | no; off (no AOF, no snapshots); "
        "rdb (no AOF, an RDB snapshot every second, writes refused when it fails)",
    )
    disk: DiskSpec | None = None


BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


class S3ServiceSpec(_Model):
    """An S3 server (versitygw with its posix backend) with one bucket."""

    kind: Literal["s3"]
    bucket: str = Field("chaos", pattern=BUCKET_PATTERN, description="the bucket the lab creates")
    disk: DiskSpec | None = None

    @field_validator("disk")
    @classmethod
    def _no_libfiu(cls, value: DiskSpec | None) -> DiskSpec | None:
        if value is not None and value.io_errors:
            raise ValueError(
                "io_errors is not available for s3: versitygw is a Go program that makes its "
                "file I/O with direct system calls, which libfiu's preload cannot intercept"
            )
        return value


class S3Credentials(_Model):
    """Keys for an external S3 server. Held as secrets: a dump of the scenario (the run's
    ``scenario.json``) shows ``**********``, and the lab's records leave them out."""

    access_key: SecretStr
    secret_key: SecretStr
    session_token: SecretStr | None = None


REGION_PATTERN = r"^[a-z0-9-]{1,40}$"


class ExternalS3ServiceSpec(_Model):
    """The user's own S3 server (Ceph RGW, a cloud bucket): the lab starts nothing. An
    http endpoint is reached through a Toxiproxy proxy of its own, so network faults act
    on it; an https one directly (Toxiproxy cannot sit in a TLS path unnoticed)."""

    kind: Literal["s3"]
    endpoint: str = Field(
        description="http(s)://host[:port], or env: "
        f"{' or '.join(ENDPOINT_VARIABLES)} (looked up when checked and at lab start)"
    )
    bucket: str = Field(pattern=BUCKET_PATTERN, description="an existing bucket")
    region: str | None = Field(
        None,
        pattern=REGION_PATTERN,
        description="signing region; default AWS_REGION, AWS_DEFAULT_REGION or us-east-1",
    )
    credentials: S3Credentials | None = Field(
        None,
        description="default AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN)",
    )
    disk: DiskSpec | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str) -> str:
        if value != FROM_ENV:
            try:
                parse_endpoint(value)
            except ValueError as exc:
                # A URL may carry a password: it is echoed without one.
                shown = re.sub(r"//[^/]*@", "//***@", value)
                raise ValueError(f"{exc}, got {shown!r}") from None
        return value

    @field_validator("disk")
    @classmethod
    def _no_disk(cls, value: DiskSpec | None) -> DiskSpec | None:
        if value is not None:
            raise ValueError(
                "not allowed with an endpoint: the lab does not own an external server's "
                "disk, so it cannot make or fault one (remove disk:)"
            )
        return value


class HttpServiceSpec(_Model):
    """The lab's reference HTTP service (``harness/lab/httpapp.py``): ``POST /messages``
    adds to a Redis stream, ``GET /events`` streams it as server-sent events, ``GET
    /health``. It reaches Redis through that service's proxy, so faults on Redis hit it."""

    kind: Literal["http"]
    redis: str = Field(description="the kind redis service of this lab the app writes to")
    stream: str = Field(
        "events", pattern=r"^[A-Za-z0-9:_.-]{1,100}$", description="the Redis stream's key"
    )
    # The app keeps no data of its own (Redis does): there is no disk to fault.
    disk: None = Field(None, description="not available: the app keeps no data")


# The fields that make a kind s3 service external (`endpoint` is the required one).
_EXTERNAL_FIELDS = ("endpoint", "region", "credentials")


def is_external(spec: Any) -> TypeGuard[ExternalS3ServiceSpec]:
    """True for a service the lab does not start (a user's own server)."""
    return isinstance(spec, ExternalS3ServiceSpec)


def _service_kind(value: Any) -> str:
    if isinstance(value, dict):
        kind = value.get("kind", "redis")
        if kind == "s3" and any(f in value for f in _EXTERNAL_FIELDS):
            return "kind=s3-external"
        return f"kind={kind}"
    return "kind=s3-external" if is_external(value) else f"kind={getattr(value, 'kind', '')}"


# `kind` picks the model (redis when absent; s3 with an endpoint is the external one);
# error locations carry the tag `kind=...`.
ServiceSpec = Annotated[
    Annotated[RedisServiceSpec, Tag("kind=redis")]
    | Annotated[S3ServiceSpec, Tag("kind=s3")]
    | Annotated[ExternalS3ServiceSpec, Tag("kind=s3-external")]
    | Annotated[HttpServiceSpec, Tag("kind=http")],
    Discriminator(
        _service_kind,
        custom_error_type="service_kind",
        custom_error_message="expected kind: redis, s3 or http",
    ),
]
# By discriminator tag (without `kind=`): for the fields an error message lists.
SERVICE_MODELS: dict[str, type[BaseModel]] = {
    "redis": RedisServiceSpec,
    "s3": S3ServiceSpec,
    "s3-external": ExternalS3ServiceSpec,
    "http": HttpServiceSpec,
}


def spec_record(spec: ServiceSpec) -> dict[str, Any]:
    """A service's settings for the lab's records (journal, ``lab.json``, history):
    JSON data without credentials, which stay in the scenario and the environment."""
    return spec.model_dump(mode="json", exclude={"credentials"})


def _default_services() -> dict[str, ServiceSpec]:
    return {"redis": RedisServiceSpec()}


SERVICE_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
SCENARIO_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,80}$"
FAULT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"
ServiceName = Annotated[str, Field(pattern=SERVICE_NAME_PATTERN)]


class LabSpec(_Model):
    backend: Literal["local", "compose"] = Field(
        "local",
        description="local: processes on this machine; compose: containers of "
        "compose/docker-compose.yml on the docker engine",
    )
    # Names become directory names and Toxiproxy proxy names: keep them plain.
    services: dict[ServiceName, ServiceSpec] = Field(default_factory=_default_services)

    @model_validator(mode="after")
    def _fits_compose(self) -> LabSpec:
        if self.backend == "compose" and (why := compose_problem(self.services)) is not None:
            raise ValueError(why)
        return self


def compose_problem(services: dict[str, ServiceSpec]) -> str | None:
    """Why these services cannot be the compose lab, which has one container of each
    kind (Redis, versitygw, the reference app) and starts no external server."""
    by_kind: dict[str, list[str]] = {}
    for name, spec in services.items():
        if is_external(spec):
            return (
                f"service '{name}' is an external S3 server: the compose lab runs its own "
                "containers only (use backend: local for an external endpoint)"
            )
        if spec.disk is not None and spec.disk.io_errors:
            return (
                f"services.{name}.disk.io_errors is not available on the compose backend "
                "(libfiu's preload cannot be added to a container's process)"
            )
        by_kind.setdefault(spec.kind, []).append(name)
    for kind, names in by_kind.items():
        if len(names) > 1:
            return (
                f"the compose lab has one service of each kind: {', '.join(names)} are "
                f"all kind {kind}"
            )
    return None


WorkloadName = Literal[
    "redis.kv",
    "redis.streams",
    "redis.pubsub",
    "s3.small_objects",
    "s3.mixed",
    "s3.concurrent_access",
    "http.users",
    "http.messages",
]


class LoadSpec(_Model):
    workload: WorkloadName
    target: str = "redis"
    # Left out, users and spawn_rate take the workload's own defaults (redis.kv 10 at
    # 10/s, s3.small_objects 20 at 5/s, s3.mixed 15 at 3/s, s3.concurrent_access 50 at 10/s).
    users: int = Field(10, ge=1, le=10_000)
    spawn_rate: float = Field(10.0, gt=0, le=10_000)
    params: dict[str, Any] = Field(default_factory=dict)
    # Users over time (harness/profiles.py); left out: sustained.
    profile: Profile | None = None
    # Load-generator processes sharing the users (harness/loadsplit.py): one Python
    # process uses about one core.
    processes: int = Field(1, ge=1, le=MAX_PROCESSES)

    @model_validator(mode="before")
    @classmethod
    def _workload_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("workload") in WORKLOAD_INFO:
            info = WORKLOAD_INFO[data["workload"]]
            data = {"users": info.users, "spawn_rate": info.spawn_rate, **data}
        return data


class TimelineEntry(_Model):
    id: str | None = Field(None, pattern=FAULT_ID_PATTERN)
    at: Duration
    for_: Duration | None = Field(None, alias="for")
    fault: str
    target: str | Annotated[list[str], Field(min_length=1)] = "redis"
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)


class RecoverySpec(_Model):
    """How windows are judged healthy, against a baseline taken before the first fault."""

    window: Duration = Field(0.1, ge=0.001, le=10)
    healthy_for: Duration = Field(1.0, gt=0)
    warmup: Duration = Field(1.0, ge=0, description="start of the run left out of the baseline")
    min_throughput_ratio: float = Field(0.5, gt=0, le=1)
    max_error_rate: float = Field(0.01, ge=0, le=1)
    p95_factor: float = Field(3.0, ge=1)
    p95_floor_ms: float = Field(5.0, ge=0)
    strict: bool = Field(False, description="every window of the healthy run must be healthy")


class SloSpec(_Model):
    baseline_error_rate_max: float | None = Field(None, ge=0, le=1)
    baseline_p95_ms_max: float | None = Field(None, gt=0)
    baseline_p99_ms_max: float | None = Field(None, gt=0)
    time_to_recover_s_max: float | None = Field(None, gt=0)
    integrity: Literal["pass"] | None = None
    delivery: Literal["pass"] | None = None


class IntegrityCheckSpec(_Model):
    final_read_deadline: Duration = Field(15.0, gt=0)


class DeliveryCheckSpec(_Model):
    """Messages sent against messages received (``redis.streams``, ``redis.pubsub``)."""

    drain_deadline: Duration = Field(
        15.0, gt=0, description="how long the drain after heal may take to empty the group"
    )
    max_loss_ratio: float | None = Field(
        None,
        ge=0,
        le=1,
        description="redis.pubsub: fail when (lost + missed) / owed exceeds it "
        "(default: loss is reported, not failed)",
    )
    stop_grace: Duration = Field(
        0.5,
        ge=0,
        le=60,
        description="redis.pubsub: messages acknowledged this close to the stop are not owed",
    )


class TrendBand(_Model):
    """A value at or above ``warning`` is reported; at or above ``critical`` fails the run."""

    warning: float = Field(ge=0)
    critical: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TrendBand:
        if self.critical < self.warning:
            raise ValueError(f"critical ({self.critical:g}) is below warning ({self.warning:g})")
        return self


class TrendsCheckSpec(_Model):
    """Soak verdicts over the run, leaving out the warm-up and each fault until recovered
    (``harness/checks/trends.py``)."""

    warmup: Duration | None = Field(None, ge=0, description="default: recovery.warmup")
    segment: float = Field(
        0.25, gt=0, le=0.5, description="share of the analysed run compared at each end"
    )
    memory_slope_mb_per_hour: TrendBand = TrendBand(warning=50, critical=200)
    memory_growth_ratio: TrendBand | None = None
    p95_drift_ratio: TrendBand = TrendBand(warning=1.5, critical=3.0)
    p95_drift_floor_ms: float = Field(
        5.0, ge=0, description="a p95 rise smaller than this is no drift, whatever its ratio"
    )
    error_rate_increase: TrendBand = TrendBand(warning=0.01, critical=0.05)
    services: list[str] | None = Field(
        None, description="services whose memory is judged (default: every lab service)"
    )


class ChecksSpec(_Model):
    integrity: IntegrityCheckSpec | None = None
    delivery: DeliveryCheckSpec | None = None
    trends: TrendsCheckSpec | None = None


class Scenario(_Model):
    name: Annotated[str, Field(pattern=SCENARIO_NAME_PATTERN)]
    description: str = ""
    seed: int = 0
    lab: LabSpec = Field(default_factory=LabSpec)
    duration: Duration = Field(gt=0, le=7 * 24 * 3600)
    load: LoadSpec
    timeline: list[TimelineEntry] = Field(default_factory=list)
    checks: ChecksSpec = Field(default_factory=ChecksSpec)
    recovery: RecoverySpec = Field(default_factory=RecoverySpec)
    slo: SloSpec = Field(default_factory=SloSpec)
    thresholds: ThresholdsSpec = Field(default_factory=ThresholdsSpec)
    # How much worse than an earlier run this one may be (`report compare`, --compare-last).
    regressions: Tolerances = Field(default_factory=Tolerances)

    @model_validator(mode="before")
    @classmethod
    def _sweep_duration(cls, data: Any) -> Any:
        # A sweep lasts as long as its steps: its duration may be left out.
        if isinstance(data, dict) and "duration" not in data:
            load = data.get("load")
            profile = load.get("profile") if isinstance(load, dict) else None
            if isinstance(profile, dict) and profile.get("shape") in SWEEP_SHAPES:
                # An invalid sweep has no length: its own errors say why, not a
                # missing duration.
                data = {**data, "duration": sweep_duration(profile) or 1.0}
        return data

    def phases(self) -> list[Phase]:
        return [Phase("main", self.duration, self.load, tuple(self.plan()))]

    def plan(self) -> list[PlannedFault]:
        """Timeline entries resolved: ids assigned, revert times computed, params typed."""
        from faults.base import get_kind

        out = []
        for index, entry in enumerate(self.timeline, start=1):
            kind = get_kind(entry.fault)
            assert kind is not None  # checked by load_scenario
            params = kind.params_model.model_validate(entry.params)
            length = entry.for_ if entry.for_ is not None else 0.0
            out.append(
                PlannedFault(
                    fault_id=entry.id or f"f{index}",
                    kind=entry.fault,
                    targets=tuple(entry.targets),
                    at_s=entry.at,
                    for_s=length,
                    params=params,
                )
            )
        return out

    def workload_params(self) -> BaseModel:
        return WORKLOADS[self.load.workload].model_validate(self.load.params)


@dataclass(frozen=True)
class PlannedFault:
    fault_id: str
    kind: str
    targets: tuple[str, ...]
    at_s: float
    for_s: float
    params: BaseModel

    @property
    def revert_at_s(self) -> float:
        return self.at_s + self.for_s


@dataclass(frozen=True)
class Phase:
    name: str
    duration_s: float
    load: LoadSpec
    faults: tuple[PlannedFault, ...]


# -- loading and validation ------------------------------------------------------------


def load_scenario(path: str | Path, overrides: Sequence[Override] = ()) -> Scenario:
    """Read, parse and validate a scenario file; ``ScenarioError`` lists every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), [f"{path}: cannot read the file: {exc.strerror}"]) from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            str(path), [f"{path}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x})"]
        ) from None
    return parse_scenario(text, str(path), overrides)


def parse_scenario(text: str, filename: str, overrides: Sequence[Override] = ()) -> Scenario:
    """``overrides``: durations and user counts from the command line or the
    environment (``harness/overrides.py``); a problem they cause names them."""
    try:
        data, marks = load_with_marks(text)
    except YamlProblem as exc:
        raise ScenarioError(filename, [f"{filename}:{exc.line}: {exc.message}"]) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            filename, [f"{filename}:1: expected a mapping of scenario fields (name, load, ...)"]
        )
    applied = apply_overrides(data, list(overrides))
    if applied.problems:
        raise ScenarioError(filename, applied.problems)

    def at(loc: Path_, message: str) -> str:
        where = ".".join(str(p) for p in loc) or "(top level)"
        label = applied.label_for(loc)
        if label is not None:
            return f"{filename}: {where}: {message} (set by {label})"
        return f"{filename}:{line_for(marks, loc)}: {where}: {message}"

    try:
        return _validated(applied.data, filename, at)
    except ScenarioError as exc:
        raise ScenarioError(filename, name_duration(exc.problems, applied)) from None


def _validated(data: dict[str, Any], filename: str, at: Any) -> Scenario:
    """The scenario in ``data``, field by field and then across fields; every problem
    at once in a ``ScenarioError``, each placed by ``at``."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(filename, explain_errors(exc, (), at)) from None
    problems = _cross_check(scenario, at)
    if problems:
        raise ScenarioError(filename, problems)
    return scenario


def against_lab(
    scenario: Scenario,
    services: dict[str, ServiceSpec],
    filename: str,
    lab_id: str,
    backend: str = "local",
) -> Scenario:
    """``scenario`` with its lab block replaced by a running lab's services, checked
    again (``--lab attach``): targets must exist there and fit their settings."""
    data = scenario.model_dump(by_alias=True, exclude={"lab"})
    data["lab"] = {
        "backend": backend,
        "services": {n: spec_record(spec) for n, spec in services.items()},
    }
    own = scenario.lab.services
    for name, record in data["lab"]["services"].items():
        # The lab keeps no credentials: an external server's come from the scenario's own
        # block for it (the same endpoint), else from the environment.
        mine = own.get(name)
        if is_external(mine) and mine.credentials and mine.endpoint == record.get("endpoint"):
            record["credentials"] = mine.credentials

    def at(loc: Path_, message: str) -> str:
        where = ".".join(str(p) for p in loc) or "(top level)"
        return f"{filename}: {where}: {message} (on the running lab {lab_id})"

    return _validated(data, filename, at)


def explain_errors(
    exc: ValidationError, prefix: Path_, at: Any, root: type[BaseModel] | None = None
) -> list[str]:
    problems = []
    for err in exc.errors():
        loc: Path_ = (*prefix, *(p for p in err["loc"] if not _is_union_tag(p)))
        loc = tuple("for" if p == "for_" else p for p in loc)
        kind = err["type"]
        if kind == "missing":
            problems.append(at(loc[:-1], f"missing required field '{loc[-1]}'"))
        elif kind == "extra_forbidden":
            allowed = _allowed_fields(root or Scenario, err["loc"][:-1])
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            problems.append(at(loc, f"unknown field '{loc[-1]}'{hint}"))
        elif kind == "string_pattern_mismatch":
            pattern = (err.get("ctx") or {}).get("pattern", "")
            message = f"expected {_PATTERN_HINTS.get(pattern, f'text matching {pattern}')}"
            problems.append(at(loc, f"{message}, got {err.get('input')!r}"))
        else:
            message = err["msg"].replace("Input should be", "expected").replace("Value error, ", "")
            got = err.get("input")
            secret = "credentials" in loc  # never echo what was given there
            if not isinstance(got, dict | list) and ", got " not in message and not secret:
                message += f", got {got!r}"
            problems.append(at(loc, message))
    return problems


_PATTERN_HINTS = {
    SERVICE_NAME_PATTERN: "a name of lowercase letters, digits, '-' and '_', starting with "
    "a letter, at most 40 characters",
    SCENARIO_NAME_PATTERN: "letters, digits, '.', '_' or '-' (no spaces), at most 80 characters",
    FAULT_ID_PATTERN: "letters, digits, '.', '_' or '-' (no spaces), at most 40 characters",
    BUCKET_PATTERN: "an S3 bucket name: 3 to 63 lowercase letters, digits, '.' and '-', "
    "starting and ending with a letter or digit",
}


def _is_union_tag(part: Any) -> bool:
    # pydantic inserts the member type name (or the tag) into locations inside unions.
    return isinstance(part, str) and (
        "[" in part
        or part in {"str", "list", "float", "int"}
        or part.startswith(("kind=", "shape="))
    )


def _allowed_fields(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = root
    keyed = False  # the previous field was a dict of models: this part is one of its keys
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if isinstance(part, str) and part.startswith("kind="):
            model = SERVICE_MODELS.get(part.removeprefix("kind="), model)
            continue
        if isinstance(part, str) and part.startswith("shape="):
            model = PROFILE_MODELS.get(part.removeprefix("shape="), model)
            continue
        field = model.model_fields.get("for_" if part == "for" else part)
        if field is None:
            if keyed:
                keyed = False
                continue
            return []
        keyed = get_origin(field.annotation) is dict
        model = _model_in(field.annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _cross_check(s: Scenario, at: Any) -> list[str]:
    """Checks that span fields: targets exist, faults are known and fit the duration."""
    from faults.base import get_kind, kinds

    problems: list[str] = []
    services = s.lab.services
    if s.load.target not in services:
        problems.append(
            at(
                ("load", "target"),
                f"no lab service named '{s.load.target}' "
                f"(services: {', '.join(services) or 'none'})",
            )
        )
    elif services[s.load.target].kind != WORKLOAD_SERVICE_KINDS[s.load.workload]:
        problems.append(
            at(
                ("load", "target"),
                f"workload {s.load.workload} needs a service of kind "
                f"{WORKLOAD_SERVICE_KINDS[s.load.workload]}",
            )
        )
    problems += _http_services(s, at)
    try:
        WORKLOADS[s.load.workload].model_validate(s.load.params)
    except ValidationError as exc:
        problems += explain_errors(exc, ("load", "params"), at, WORKLOADS[s.load.workload])

    if s.checks.integrity is not None and s.load.workload == "http.users":
        problems.append(
            at(("checks", "integrity"), f"{s.load.workload} has no integrity check (remove it)")
        )
    messaging = s.load.workload in MESSAGING_WORKLOADS
    delivery = s.checks.delivery
    if delivery is not None and not messaging:
        problems.append(
            at(
                ("checks", "delivery"),
                f"needs a messaging workload ({', '.join(MESSAGING_WORKLOADS)})",
            )
        )
    lossy = delivery is not None and delivery.max_loss_ratio is not None
    if lossy and s.load.workload != "redis.pubsub":
        problems.append(
            at(
                ("checks", "delivery", "max_loss_ratio"),
                f"{s.load.workload} must deliver everything (any loss fails); "
                "max_loss_ratio is for redis.pubsub",
            )
        )
    if s.checks.integrity is not None and messaging:
        problems.append(
            at(
                ("checks", "integrity"),
                f"{s.load.workload} is checked by delivery: {{}} instead",
            )
        )
    trends = s.checks.trends
    for name in (trends.services or []) if trends is not None else []:
        if name not in services and name != "toxiproxy":
            problems.append(
                at(
                    ("checks", "trends", "services"),
                    f"no lab service named '{name}' (services: {', '.join(services)}, toxiproxy)",
                )
            )
    seen_ids: dict[str, int] = {}
    for index, entry in enumerate(s.timeline):
        here = ("timeline", index)
        kind = get_kind(entry.fault)
        if kind is None:
            problems.append(
                at(
                    (*here, "fault"),
                    f"unknown fault kind '{entry.fault}' (known: {', '.join(kinds())})",
                )
            )
            continue
        if s.lab.backend not in kind.backends:
            problems.append(
                at(
                    (*here, "fault"),
                    f"{entry.fault} is not available on the {s.lab.backend} backend "
                    f"(available on: {', '.join(kind.backends)})",
                )
            )
        if len(set(entry.targets)) != len(entry.targets):
            problems.append(at((*here, "target"), "a service is listed twice"))
        for name in entry.targets:
            if name not in services:
                problems.append(
                    at(
                        (*here, "target"),
                        f"no lab service named '{name}' "
                        f"(services: {', '.join(services) or 'none'})",
                    )
                )
            elif (why := kind.target_problem(name, services[name])) is not None:
                problems.append(
                    at((*here, "target"), f"{entry.fault} cannot act on service '{name}': {why}")
                )
        try:
            kind.params_model.model_validate(entry.params)
        except ValidationError as exc:
            problems += explain_errors(exc, (*here, "params"), at, kind.params_model)
        if entry.for_ is None and not kind.instantaneous:
            problems.append(
                at(
                    here,
                    f"missing required field 'for' (how long {entry.fault} "
                    "stays applied, e.g. for: 5s)",
                )
            )
        end = entry.at + (entry.for_ or 0.0)
        if end > s.duration:
            problems.append(
                at(
                    (*here, "at"),
                    f"fault ends at {format_duration(end)}, after "
                    f"the scenario's duration {format_duration(s.duration)}",
                )
            )
        fault_id = entry.id or f"f{index + 1}"
        if fault_id in seen_ids:
            problems.append(at((*here, "id"), f"duplicate fault id '{fault_id}'"))
        seen_ids[fault_id] = index
    problems += _overlaps(s, at)
    problems += profile_problems(s, at)
    problems += split_problems(s, at)
    windows = s.duration / s.recovery.window
    if windows > MAX_WINDOWS:
        problems.append(
            at(
                ("recovery", "window"),
                f"{windows:.0f} windows of "
                f"{format_duration(s.recovery.window)} over {format_duration(s.duration)}; "
                f"at most {MAX_WINDOWS:,}: use a wider window for long runs",
            )
        )
    return problems


def _http_services(s: Scenario, at: Any) -> list[str]:
    """Each reference HTTP service names a redis service of the same lab."""
    problems = []
    for name, spec in s.lab.services.items():
        if isinstance(spec, HttpServiceSpec):
            backend = s.lab.services.get(spec.redis)
            if backend is None or backend.kind != "redis":
                redis_names = [n for n, o in s.lab.services.items() if o.kind == "redis"]
                problems.append(
                    at(
                        ("lab", "services", name, "redis"),
                        f"expected the name of a kind redis service of this lab "
                        f"(redis services: {', '.join(redis_names) or 'none'}), "
                        f"got {spec.redis!r}",
                    )
                )
    return problems


# Faults that set the same state of a service (the proxy's enabled flag, the process's
# life or its being paused) cannot overlap on one target: the first revert would undo
# the second fault.
EXCLUSIVE = {
    "network.down": "proxy",
    "network.flap": "proxy",
    "process.kill": "process",
    "process.stop": "process",
    "process.restart": "process",
    "process.pause": "process",
    "disk.fill": "filesystem",
    "disk.readonly": "filesystem",
    "disk.io_error": "failure points",
    "disk.slow": "blkio cgroup",
}
MAX_WINDOWS = 2_000_000
MESSAGING_WORKLOADS = ("redis.streams", "redis.pubsub", "http.messages")


def _overlaps(s: Scenario, at: Any) -> list[str]:
    problems = []
    spans = []
    for index, entry in enumerate(s.timeline):
        group = EXCLUSIVE.get(entry.fault)
        if group is not None:
            spans.append((entry.at, entry.at + (entry.for_ or 0.0), group, index, entry))
    for a_start, a_end, a_group, a_i, a in spans:
        for b_start, b_end, b_group, b_i, b in spans:
            if b_i <= a_i or a_group != b_group or not set(a.targets) & set(b.targets):
                continue
            if a_start <= b_end and b_start <= a_end:
                problems.append(
                    at(
                        ("timeline", b_i, "at"),
                        f"{b.fault} overlaps {a.fault} "
                        f"(timeline item {a_i + 1}) on the same service",
                    )
                )
    return problems
