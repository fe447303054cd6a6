"""The compose lab: the lab's services as containers of ``compose/docker-compose.yml``.

One Toxiproxy container fronts Redis, versitygw and the reference HTTP app; only its
API and proxy ports are published, each on a free port of 127.0.0.1, so clients reach
every service through its proxy as in the local lab. The harness drives ``docker
compose`` for up and down (readiness is the containers' healthchecks, with a deadline)
and the docker SDK for everything a fault does to a container (kill, stop, start,
pause) and for finding what the lab made: every container, network and volume carries
the label ``io.chaos-harness.lab=<lab id>``.

Data directories live under the lab's root on the host and are bound into the
containers as named volumes; a service with a ``disk:`` block gets its own
size-limited filesystem mounted there first (``harness.lab.disk``), so disk faults
fill or remount the very filesystem the container writes to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, LabError
from harness.lab import disk, s3
from harness.lab.base import Endpoint, ServiceHandle
from harness.lab.common import LabBase
from harness.lab.docker_stats import DockerStatsProbe
from harness.lab.local import service_ready
from harness.lab.toxiproxy import ToxiproxyClient
from harness.scenario import HttpServiceSpec, RedisServiceSpec

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from harness.journal import Journal
    from harness.scenario import ServiceSpec

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"
LABEL = "io.chaos-harness.lab"
LOOPBACK = "127.0.0.1"
READY_DEADLINE_S = 60.0
COMPOSE_TIMEOUT_S = 180.0
API_PORT = 8474
# Per kind of service: its compose service, the port it serves inside the lab network,
# and the Toxiproxy proxy (name, listen port) in compose/toxiproxy.json.
COMPOSE_SERVICE = {"redis": "redis", "s3": "s3", "http": "app"}
SERVICE_PORT = {"redis": 6379, "s3": 7070, "http": 8080}
PROXY_PORT = {"redis": 26379, "s3": 27070, "http": 28080}
DATA_VAR = {"redis": "HARNESS_REDIS_DATA", "s3": "HARNESS_S3_DATA"}
# The images, overridable like the compose file's own defaults.
IMAGE_VARS = {
    "toxiproxy": ("HARNESS_TOXIPROXY_IMAGE", "ghcr.io/shopify/toxiproxy:2.12.0"),
    "redis": ("HARNESS_REDIS_IMAGE", "redis:7"),
    "s3": ("HARNESS_VERSITYGW_IMAGE", "versity/versitygw:v1.7.0"),
    "app": ("HARNESS_HTTPAPP_IMAGE", "chaos-harness/httpapp:local"),
}
NO_ENGINE = (
    "the compose lab needs a docker engine (Docker >= 20.10 with compose v2): "
    "`make compose-setup` installs and starts one on Debian"
)


def docker_client() -> DockerClient:
    """A client of the engine ``DOCKER_HOST`` (or the default socket) names, or a
    ``LabError`` that says how to get one."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        raise LabError(f"no docker engine answers ({exc}); {NO_ENGINE}") from None
    return client


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin), checked to answer."""
    docker_bin = shutil.which("docker")
    if docker_bin is None:
        raise LabError(f"the docker command was not found; {NO_ENGINE}")
    try:
        subprocess.run(
            [docker_bin, "compose", "version"], capture_output=True, check=True, timeout=30
        )
    except (subprocess.SubprocessError, OSError):
        raise LabError(f"`docker compose` (compose v2) does not answer; {NO_ENGINE}") from None
    return [docker_bin, "compose"]


def redis_args(durability: str) -> str:
    """Redis's persistence flags for a durability, as the compose file's command takes
    them (the local lab's ``redis_argv`` sets the same)."""
    if durability == "rdb":
        return '--save "1 1" --appendonly no --stop-writes-on-bgsave-error yes'
    if durability == "off":
        return '--save "" --appendonly no'
    return f'--save "" --appendonly yes --appendfsync {durability}'


def image(service: str) -> str:
    var, default = IMAGE_VARS[service]
    return os.environ.get(var) or default


class ComposeLab(LabBase):
    """Containers of one compose project, named after the lab id."""

    backend = "compose"

    def __init__(
        self,
        root: Path,
        services: dict[str, ServiceSpec],
        journal: Journal | None = None,
        ready_deadline_s: float = READY_DEADLINE_S,
        persistent: bool = False,
        lab_id: str | None = None,
        allow_external: bool = False,
    ) -> None:
        del allow_external  # the scenario check refuses external services here
        super().__init__(root, services, journal, ready_deadline_s, persistent, lab_id)
        self.project = self.lab_id
        self._client: DockerClient | None = None
        self._stop_deadline: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    def compose_services(self) -> list[str]:
        """The compose services this lab runs: Toxiproxy and one per lab service."""
        return ["toxiproxy", *(COMPOSE_SERVICE[s.kind] for s in self.specs.values())]

    def up(self) -> None:
        """Start the containers and wait for their healthchecks; on any failure remove
        what started."""
        command = compose_command()
        _ = self.client
        self._check_images()
        self.root.mkdir(parents=True, exist_ok=True)
        self._journal()  # before anything exists: heal knows the project to sweep
        try:
            env = self._prepare()
            self._compose(
                command,
                env,
                "up",
                "--detach",
                "--no-build",
                "--pull",
                "never",
                "--wait",
                "--wait-timeout",
                str(max(1, round(self.ready_deadline_s))),
                *self.compose_services(),
                what="starting the compose lab",
            )
            self._connect()
        except BaseException:
            with contextlib.suppress(HarnessError):
                self.down()
            raise

    def _check_images(self) -> None:
        """Every image must be present: the lab never pulls (``--pull never``), so that
        starting it sends nothing off the machine."""
        from docker.errors import ImageNotFound

        missing = []
        for service in self.compose_services():
            name = image(service)
            try:
                self.client.images.get(name)
            except ImageNotFound:
                var = IMAGE_VARS[service][0]
                fetch = "" if name.startswith("chaos-harness/") else f"`docker pull {name}`, or "
                missing.append(f"{name} ({var}: {fetch}`make images` builds a local one)")
        if missing:
            raise LabError(f"images not present: {'; '.join(missing)}")

    def _prepare(self) -> dict[str, str]:
        """Data directories (and lab filesystems), credentials, and the environment the
        compose file reads."""
        env = {
            "HARNESS_COMPOSE_PROJECT": self.project,
            "HARNESS_LAB_ID": self.lab_id,
            "HARNESS_REDIS_DATA": str(self.root / "unused-redis"),
            "HARNESS_S3_DATA": str(self.root / "unused-s3"),
            "HARNESS_S3_ACCESS_KEY_ID": "unused",
            "HARNESS_S3_SECRET_ACCESS_KEY": "unused",
        }
        for service, (var, _) in IMAGE_VARS.items():
            env[var] = image(service)
        for name, spec in self.specs.items():
            data = self.root / name
            if spec.disk is not None:
                self.disks[name] = disk.plan(self.root, name, spec.disk)
                self._journal()
                self.disks[name] = disk.mount(self.disks[name])
                self._journal()
            data.mkdir(parents=True, exist_ok=True)
            if spec.kind in DATA_VAR:
                env[DATA_VAR[spec.kind]] = str(data)
            if isinstance(spec, RedisServiceSpec):
                env["HARNESS_REDIS_ARGS"] = redis_args(spec.durability)
            elif isinstance(spec, HttpServiceSpec):
                env["HARNESS_APP_STREAM"] = spec.stream
            elif spec.kind == "s3":
                (data / spec.bucket).mkdir(exist_ok=True)  # a bucket is a directory
                key, secret = s3.read_credentials(
                    s3.make_credentials(self.root / f"{name}.credentials.json")
                )
                env["HARNESS_S3_ACCESS_KEY_ID"] = key
                env["HARNESS_S3_SECRET_ACCESS_KEY"] = secret
        for path in (env["HARNESS_REDIS_DATA"], env["HARNESS_S3_DATA"]):
            Path(path).mkdir(parents=True, exist_ok=True)
        return env

    def _connect(self) -> None:
        """Find the published ports and describe every service by its proxy."""
        proxy = self.container("toxiproxy")
        api = _published(proxy, API_PORT)
        self.toxiproxy = ToxiproxyClient(LOOPBACK, api)
        for name, spec in self.specs.items():
            kind = spec.kind
            options: dict[str, str] = {}
            if isinstance(spec, HttpServiceSpec):
                options = {"redis": spec.redis, "stream": spec.stream}
            elif kind == "s3":
                options = {
                    "bucket": getattr(spec, "bucket", "chaos"),
                    "credentials": str(self.root / f"{name}.credentials.json"),
                    "region": s3.REGION,
                }
            self.services[name] = ServiceHandle(
                name=name,
                kind=kind,
                client=Endpoint(LOOPBACK, _published(proxy, PROXY_PORT[kind])),
                upstream=Endpoint(COMPOSE_SERVICE[kind], SERVICE_PORT[kind]),
                proxy=COMPOSE_SERVICE[kind],
                toxiproxy=self.toxiproxy.address,
                options=options,
            )
        self._journal()

    def _compose(self, command: list[str], env: dict[str, str], *args: str, what: str) -> None:
        argv = [*command, "--project-name", self.project, "--file", str(COMPOSE_FILE), *args]
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=COMPOSE_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise LabError(
                f"{what}: docker compose did not finish within {COMPOSE_TIMEOUT_S:.0f} s"
            ) from None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[-6:]
            raise LabError(f"{what} failed: {' / '.join(detail)}{self._health_report()}")

    def _health_report(self) -> str:
        """Each container's state and health, and the last log lines of unhealthy ones."""
        lines = []
        with contextlib.suppress(Exception):
            for container in self._containers():
                state = container.attrs.get("State", {})
                health = (state.get("Health") or {}).get("Status", "-")
                service = container.labels.get("com.docker.compose.service", container.name)
                lines.append(f"{service}: {state.get('Status')}, health {health}")
                if health not in ("healthy", "-") or state.get("Status") != "running":
                    tail = container.logs(tail=3).decode(errors="replace").strip()
                    if tail:
                        lines.append(f"  last log lines: {' | '.join(tail.splitlines())}")
        return ("; containers: " + "; ".join(lines)) if lines else ""

    def down(self) -> None:
        """Remove every container, network and volume of the lab (``docker compose down``,
        then anything left with its label) and unmount its filesystems. Idempotent."""
        if self._down:
            return
        failed = []
        try:
            command = compose_command()
            self._compose(
                command,
                self._down_env(),
                "down",
                "--volumes",
                "--remove-orphans",
                "--timeout",
                "5",
                what="stopping the compose lab",
            )
        except HarnessError as exc:
            failed.append(str(exc))
        try:
            sweep(self.client, self.lab_id)
        except HarnessError as exc:
            failed.append(str(exc))
        for d in self.disks.values():
            try:
                disk.unmount(d)
            except HarnessError as exc:
                failed.append(str(exc))
        for path in self.root.glob("*.credentials.json"):
            path.unlink(missing_ok=True)
        if failed:
            raise LabError("; ".join(failed))
        self._down = True
        if self.journal is not None:
            self.journal.lab_down(self.lab_id)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def _down_env(self) -> dict[str, str]:
        # `down` parses the file too: every required variable needs some value.
        return {
            "HARNESS_COMPOSE_PROJECT": self.project,
            "HARNESS_LAB_ID": self.lab_id,
            "HARNESS_REDIS_DATA": str(self.root),
            "HARNESS_S3_DATA": str(self.root),
            "HARNESS_S3_ACCESS_KEY_ID": "-",
            "HARNESS_S3_SECRET_ACCESS_KEY": "-",
        }

    # -- containers ------------------------------------------------------------------

    def _containers(self) -> list[Container]:
        return self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.lab_id}"})

    def container(self, service: str) -> Container:
        """The container of a compose service (``toxiproxy``, ``redis``, ``s3``, ``app``)."""
        for found in self._containers():
            if found.labels.get("com.docker.compose.service") == service:
                return found
        raise LabError(f"the compose lab {self.lab_id} has no container for '{service}'")

    def _service_container(self, name: str) -> Container:
        spec = self.specs.get(name)
        if spec is None:
            raise LabError(f"the lab has no service '{name}'")
        return self.container(COMPOSE_SERVICE[spec.kind])

    def kill_service(self, name: str, sig: int) -> None:
        container = self._service_container(name)
        container.kill(signal=signal.Signals(sig).name)
        self._wait_exit(name, container, 10.0)

    def stop_service(self, name: str, grace_s: float) -> None:
        container = self._service_container(name)
        container.stop(timeout=max(1, round(grace_s)))
        self._wait_exit(name, container, 10.0)

    def begin_stop(self, name: str, grace_s: float) -> None:
        container = self._service_container(name)
        self._stop_deadline[name] = time.time() + grace_s
        with contextlib.suppress(Exception):
            container.unpause()
        container.kill(signal="SIGTERM")

    def finish_stop(self, name: str) -> None:
        deadline = self._stop_deadline.pop(name, None)
        if deadline is None:
            return
        container = self._service_container(name)
        if not _wait_state(container, lambda s: s.get("Status") != "running", deadline):
            with contextlib.suppress(Exception):
                container.kill(signal="SIGKILL")
            self._wait_exit(name, container, 10.0)

    def start_service(self, name: str) -> None:
        self.finish_stop(name)
        container = self._service_container(name)
        container.reload()
        if container.status == "paused":
            container.unpause()
        if container.status != "running":
            container.start()
        # Ready when it answers on the lab network (the container's own address, not
        # through its proxy, which a network fault may hold): the healthcheck runs only
        # once a second, which would make every restart look a second longer.
        kind = self.specs[name].kind
        deadline = time.time() + self.ready_deadline_s
        if not _wait_state(container, lambda s: _answers(container, kind), deadline):
            raise LabError(
                f"service '{name}' (container {container.name}) did not answer within "
                f"{self.ready_deadline_s:.0f} s of its restart{self._health_report()}"
            )

    def pause_service(self, name: str) -> None:
        container = self._service_container(name)
        container.reload()
        if container.status == "running":
            container.pause()

    def resume_service(self, name: str) -> None:
        container = self._service_container(name)
        container.reload()
        if container.status == "paused":
            container.unpause()

    def service_running(self, name: str) -> bool:
        container = self._service_container(name)
        container.reload()
        return container.status in ("running", "paused")

    def service_pid(self, name: str) -> int | None:
        container = self._service_container(name)
        container.reload()
        pid = container.attrs.get("State", {}).get("Pid") or 0
        return int(pid) or None

    def process_state(self, name: str) -> str:
        try:
            container = self._service_container(name)
            container.reload()
        except LabError:
            return "no container"
        return f"container {container.name} {container.status}"

    def _wait_exit(self, name: str, container: Container, timeout_s: float) -> None:
        if not _wait_state(
            container, lambda s: s.get("Status") != "running", time.time() + timeout_s
        ):
            raise LabError(f"service '{name}' did not exit within {timeout_s:.0f} s")

    def log_tail(self, name: str, lines: int) -> list[str]:
        """The last ``lines`` lines of a service's container log (``toxiproxy`` too)."""
        try:
            container = (
                self.container("toxiproxy")
                if name == "toxiproxy"
                else (self._service_container(name))
            )
        except LabError as exc:
            return [f"({exc})"]
        return container.logs(tail=lines).decode(errors="replace").splitlines()

    def resource_probe(self) -> DockerStatsProbe:
        """docker stats of each service's container, and Toxiproxy's as ``toxiproxy``."""
        by_service = {COMPOSE_SERVICE[spec.kind]: name for name, spec in self.specs.items()}
        by_service["toxiproxy"] = "toxiproxy"

        def containers() -> dict[str, Container]:
            out = {}
            for container in self._containers():
                service = container.labels.get("com.docker.compose.service", "")
                if service in by_service and container.status in ("running", "paused"):
                    out[by_service[service]] = container
            return out

        return DockerStatsProbe(containers)

    # -- persistence -----------------------------------------------------------------

    def alive(self) -> bool:
        """True while the lab's Toxiproxy container runs."""
        try:
            proxy = self.container("toxiproxy")
        except HarnessError:
            return False
        return proxy.status == "running"

    def to_record(self) -> dict[str, Any]:
        return super().to_record() | {"project": self.project}

    @classmethod
    def from_record(cls, record: dict[str, Any], journal: Journal | None = None) -> ComposeLab:
        from harness.scenario import LabSpec

        specs = LabSpec.model_validate(
            {"backend": "compose", "services": record.get("specs", {})}
        ).services
        lab = cls(
            Path(record["root"]),
            dict(specs),
            journal,
            persistent=bool(record.get("persistent")),
            lab_id=record["lab_id"],
        )
        lab._restore(record)
        return lab


def _published(container: Container, port: int) -> int:
    """The 127.0.0.1 host port a container port is published on."""
    container.reload()
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{port}/tcp")
    for binding in bindings or []:
        if binding.get("HostIp") in (LOOPBACK, "") and binding.get("HostPort"):
            return int(binding["HostPort"])
    raise LabError(f"port {port} of container {container.name} is not published on {LOOPBACK}")


def _answers(container: Container, kind: str) -> bool:
    """The service in ``container`` answers on its address in the lab network."""
    if container.status != "running":
        return False
    networks = container.attrs.get("NetworkSettings", {}).get("Networks") or {}
    for network in networks.values():
        address = network.get("IPAddress")
        if address:
            with contextlib.suppress(OSError):
                return service_ready(kind, address, SERVICE_PORT[kind], timeout_s=0.2)
    return False


def _wait_state(container: Container, done: Any, deadline: float, poll_s: float = 0.05) -> bool:
    """Poll the container's ``State`` until ``done(state)`` or the deadline."""
    from docker.errors import NotFound

    while True:
        try:
            container.reload()
        except NotFound:
            return False
        if done(container.attrs.get("State", {})):
            return True
        if time.time() >= deadline:
            return False
        time.sleep(poll_s)


def sweep(client: DockerClient, lab_id: str) -> list[str]:
    """Remove every container, network and volume labelled with ``lab_id``; what was
    removed, by kind and name."""
    from docker.errors import APIError, NotFound

    selector: dict[str, str | list[str] | bool] = {"label": f"{LABEL}={lab_id}"}
    removed = []
    try:
        for container in client.containers.list(all=True, filters=selector):
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)
                removed.append(f"container {container.name}")
        for network in client.networks.list(filters=selector):
            with contextlib.suppress(NotFound):
                network.remove()
                removed.append(f"network {network.name}")
        for volume in client.volumes.list(filters=selector):
            with contextlib.suppress(NotFound):
                volume.remove(force=True)
                removed.append(f"volume {volume.name}")
    except APIError as exc:
        raise LabError(f"removing what lab {lab_id} left: {exc}") from None
    return removed
