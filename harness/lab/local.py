"""The local lab: real ``redis-server`` and Toxiproxy server processes on loopback.

Every service gets a free loopback port, data under the run directory and one
Toxiproxy proxy; clients only ever see the proxy's address. An external service (the
user's own S3 server, ``endpoint:``) gets only the proxy, or nothing for https: the lab
starts no process for it and owns none of its data. The lab writes its own
description (pids, argv, ports) to the journal as soon as each process starts, so that
``harness heal`` can stop it if the harness dies before ``down()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, LabError, ToxiproxyError
from harness.lab import blkio, disk, external, fiu, s3
from harness.lab.base import Endpoint, ServiceHandle
from harness.lab.common import LabBase
from harness.lab.http_service import health_ok, httpapp_argv, start_order
from harness.lab.procs import (
    PORT_TAKEN,
    ManagedProcess,
    free_port,
    on_a_free_port,
    stop_strays,
    wait_until,
)
from harness.lab.toxiproxy import ToxiproxyClient
from harness.resources import ProcessProbe, lab_targets
from harness.scenario import HttpServiceSpec, RedisServiceSpec, is_external

if TYPE_CHECKING:
    from harness.journal import Journal
    from harness.scenario import DiskSpec, ExternalS3ServiceSpec, ServiceSpec

LOOPBACK = "127.0.0.1"
READY_DEADLINE_S = 10.0


def find_toxiproxy_server() -> str:
    """Locate the Toxiproxy server binary, or explain how to get one."""
    explicit = os.environ.get("HARNESS_TOXIPROXY_BIN")
    if explicit:
        if _executable(explicit):
            return explicit
        raise LabError(
            f"HARNESS_TOXIPROXY_BIN={explicit} is not an executable file (expected the "
            "Toxiproxy server v2.12.0 binary)"
        )
    for candidate in (
        str(Path(__file__).resolve().parents[2] / ".bin" / "server"),
        shutil.which("toxiproxy-server") or "",
    ):
        if candidate and _executable(candidate):
            return candidate
    raise LabError(
        "the Toxiproxy server binary was not found: run `make setup` (it builds "
        "github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0 into .bin/), put "
        "toxiproxy-server on PATH, or set HARNESS_TOXIPROXY_BIN"
    )


def _executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def find_redis_server() -> str:
    explicit = os.environ.get("HARNESS_REDIS_SERVER_BIN")
    found = explicit or shutil.which("redis-server")
    if not found or not _executable(found):
        raise LabError(
            "redis-server was not found: install Redis 7 (Debian: apt-get install "
            "redis-server), or set HARNESS_REDIS_SERVER_BIN"
        )
    return found


def redis_ping(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when Redis answers PING with PONG (not while it is still loading its AOF)."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def service_ready(kind: str, host: str, port: int, timeout_s: float = 0.2) -> bool:
    """The service answers: Redis PING, the HTTP app's /health 200, or any HTTP reply
    from an S3 server."""
    if kind == "redis":
        return redis_ping(host, port, timeout_s)
    if kind == "http":
        return health_ok(host, port, timeout_s)
    return s3.http_ready(host, port, timeout_s)


def find_service_binaries(specs: dict[str, ServiceSpec]) -> dict[str, str]:
    """The server binary for every kind of service in ``specs`` the lab starts (not the
    external ones), or a ``LabError`` that says how to get the first one missing."""
    finders = {"redis": find_redis_server, "s3": s3.find_versitygw}
    kinds = {spec.kind for spec in specs.values() if not is_external(spec)} - {"http"}
    return {kind: finders[kind]() for kind in sorted(kinds)}


def external_endpoints(
    specs: dict[str, ServiceSpec], allow_external: bool
) -> dict[str, external.EndpointUrl]:
    """The endpoint of every external service in ``specs``, resolved (``endpoint: env``
    from the environment: ``LabError``, exit 3, when unset); without ``allow_external``
    each must be on loopback (``InvalidInput``, exit 2, names the others)."""
    endpoints = {
        name: external.resolve_endpoint(spec.endpoint)
        for name, spec in specs.items()
        if is_external(spec)
    }
    external.refuse_non_loopback(endpoints, allow_external)
    return endpoints


def redis_argv(binary: str, port: int, data_dir: Path, durability: str) -> list[str]:
    argv = [
        binary,
        "--port",
        str(port),
        "--bind",
        LOOPBACK,
        "--dir",
        str(data_dir),
        "--save",
        # rdb: a snapshot a second after any write; a failed one makes Redis refuse writes.
        "1 1" if durability == "rdb" else "",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    if durability == "rdb":
        argv += ["--appendonly", "no", "--stop-writes-on-bgsave-error", "yes"]
    elif durability == "off":
        argv += ["--appendonly", "no"]
    else:
        argv += ["--appendonly", "yes", "--appendfsync", durability]
    return argv


class LocalLab(LabBase):
    """Local processes: one Toxiproxy server plus one process per service."""

    backend = "local"

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
        super().__init__(root, services, journal, ready_deadline_s, persistent, lab_id)
        # The user's opt-in (--allow-external) to external servers not on loopback.
        self.allow_external = allow_external
        self.processes: dict[str, ManagedProcess] = {}
        self.toxiproxy_proc: ManagedProcess | None = None

    # -- lifecycle -------------------------------------------------------------------

    def up(self) -> None:
        """Start everything and wait until ready; on any failure stop what started."""
        toxiproxy_bin = find_toxiproxy_server()
        binaries = find_service_binaries(self.specs)
        endpoints = external_endpoints(self.specs, self.allow_external)
        self.root.mkdir(parents=True, exist_ok=True)
        # Journaled before any process starts: if the harness dies between a start and
        # the record of its pid, heal still knows the root to sweep (see down()).
        self._journal()
        try:
            self._start_toxiproxy(toxiproxy_bin)
            for name, spec in start_order(self.specs):
                if is_external(spec):
                    self._connect_external(name, spec, endpoints[name])
                else:
                    self._start_service(name, spec, binaries)
        except BaseException:
            # The first error is the one to report; what down() leaves, heal finds.
            with contextlib.suppress(LabError):
                self.down()
            raise

    def _start_toxiproxy(self, binary: str) -> None:
        on_a_free_port(partial(self._start_toxiproxy_on, binary))

    def _start_toxiproxy_on(self, binary: str, port: int) -> None:
        proc = ManagedProcess(
            name="toxiproxy",
            argv=[binary, "-host", LOOPBACK, "-port", str(port)],
            cwd=str(self.root),
            log_path=str(self.root / "toxiproxy.log"),
            # At its default level Toxiproxy logs several lines per client connection
            # (S3 clients open one per request): tens of MB a minute.
            env={"LOG_LEVEL": "error"},
        )
        self.toxiproxy_proc = proc
        log = Path(proc.log_path)
        start = log.stat().st_size if log.exists() else 0
        proc.start()
        self._journal()
        client = ToxiproxyClient(LOOPBACK, port, timeout_s=1.0)

        def ready() -> bool:
            # Toxiproxy keeps running when its API cannot bind: say so now, not at the
            # deadline, and stop it.
            with open(log, "rb") as f:
                f.seek(start)
                said = f.read().decode(errors="replace").strip()
            if PORT_TAKEN in said.lower():
                proc.stop(grace_s=1.0)
                raise LabError(f"Toxiproxy server ({binary}) on {LOOPBACK}:{port}: {said}")
            return bool(client.version())

        wait_until(
            ready,
            self.ready_deadline_s,
            f"Toxiproxy server ({binary}) on {LOOPBACK}:{port}",
            proc,
            on_error=(ToxiproxyError,),
        )
        self.toxiproxy = ToxiproxyClient(LOOPBACK, port)

    def _start_service(self, name: str, spec: ServiceSpec, binaries: dict[str, str]) -> None:
        assert self.toxiproxy is not None
        data_dir = self.root / name
        if spec.disk is not None:
            self._mount_disk(name, spec.disk)
        data_dir.mkdir(parents=True, exist_ok=True)
        env_file = None
        options: dict[str, str] = {}
        if isinstance(spec, RedisServiceSpec):
            what = "redis-server"
        elif isinstance(spec, HttpServiceSpec):
            options = {"redis": spec.redis, "stream": spec.stream}
            what = "the reference HTTP app"
        else:
            (data_dir / spec.bucket).mkdir(exist_ok=True)  # a bucket is a directory
            env_file = str(s3.make_credentials(self.root / f"{name}.credentials.json"))
            options = {"bucket": spec.bucket, "credentials": env_file, "region": s3.REGION}
            what = "versitygw"

        def start_on(port: int) -> int:
            if isinstance(spec, RedisServiceSpec):
                argv = redis_argv(binaries["redis"], port, data_dir, spec.durability)
            elif isinstance(spec, HttpServiceSpec):
                # Through Redis's proxy: network faults on redis reach the app's requests.
                redis_at = self.services[spec.redis].client
                argv = httpapp_argv(LOOPBACK, port, redis_at, spec.stream)
            else:
                argv = s3.versitygw_argv(binaries["s3"], LOOPBACK, port, data_dir)
            fiu_prefix = self.disks[name].fiu_prefix if name in self.disks else None
            if fiu_prefix is not None:
                argv = fiu.wrap(argv, fiu_prefix, fiu.REDIS_ENV)
            proc = ManagedProcess(
                name=name,
                argv=argv,
                cwd=str(data_dir),
                log_path=str(self.root / f"{name}.log"),
                env_file=env_file,
            )
            self.processes[name] = proc
            proc.start()
            self._journal()
            wait_until(
                lambda: service_ready(spec.kind, LOOPBACK, port),
                self.ready_deadline_s,
                f"service '{name}' ({what} on {LOOPBACK}:{port})",
                proc,
            )
            return port

        port = on_a_free_port(start_on)
        listen = self._create_proxy(name, f"{LOOPBACK}:{port}")
        self.services[name] = ServiceHandle(
            name=name,
            kind=spec.kind,
            client=listen,
            upstream=Endpoint(LOOPBACK, port),
            proxy=name,
            toxiproxy=self.toxiproxy.address,
            options=options,
        )
        self._journal()

    def _connect_external(
        self, name: str, spec: ExternalS3ServiceSpec, url: external.EndpointUrl
    ) -> None:
        """A server the lab does not start: an http one gets a proxy (network faults act
        on it); an https one is reached directly, since Toxiproxy in its TLS path would
        present the proxy's address to a client expecting the certificate's name."""
        assert self.toxiproxy is not None
        upstream = Endpoint(url.host, url.port)
        if url.tls:
            client, proxy = upstream, ""
            ready = partial(s3.tcp_open, url.host, url.port)
            how = "directly (https)"
        else:
            client, proxy = self._create_proxy(name, url.hostport), name
            ready = partial(s3.http_ready, client.host, client.port)
            how = f"through its proxy {client}"
        # Nothing of it starts or stops with the lab: only its answer is waited for.
        wait_until(
            ready,
            self.ready_deadline_s,
            f"external S3 service '{name}' ({url.url}, reached {how}; the lab does not "
            "start it, is it up?)",
        )
        self.services[name] = ServiceHandle(
            name=name,
            kind=spec.kind,
            client=client,
            upstream=upstream,
            proxy=proxy,
            toxiproxy=self.toxiproxy.address,
            options={
                "bucket": spec.bucket,
                "region": spec.region or s3.default_region(),
                "external": url.url,
            },
        )
        self._journal()

    def _mount_disk(self, name: str, spec: DiskSpec) -> None:
        """Mount the service's own filesystem on its data directory. It is journaled before
        the mount so that heal can undo a mount this process did not live to record."""
        fiu_prefix = fiu.prefix(self.root, name) if spec.io_errors else None
        self.disks[name] = disk.plan(self.root, name, spec, fiu_prefix)
        self._journal()
        self.disks[name] = disk.mount(self.disks[name])
        self._journal()

    def _remove_disks(self) -> None:
        """Unmount the lab's filesystems and remove the cgroups its faults left; what
        cannot be undone is named in a ``LabError`` and stays journaled for heal."""
        cleanups = [partial(disk.unmount, d) for d in self.disks.values()]
        if self.disks:
            cleanups.insert(0, partial(blkio.sweep, self.lab_id))
        failed = []
        for cleanup in cleanups:
            try:
                cleanup()
            except HarnessError as exc:
                failed.append(str(exc))
        if failed:
            raise LabError("; ".join(failed))

    def _create_proxy(self, name: str, upstream: str) -> Endpoint:
        assert self.toxiproxy is not None
        last: Exception | None = None
        # The free port can be taken between probing and binding; try a few.
        for _ in range(5):
            port = free_port()
            try:
                self.toxiproxy.create_proxy(name, f"{LOOPBACK}:{port}", upstream)
                return Endpoint(LOOPBACK, port)
            except ToxiproxyError as exc:
                last = exc
        raise LabError(f"could not create the Toxiproxy proxy for '{name}': {last}")

    def down(self) -> None:
        """Stop every process this lab started and unmount its filesystems (idempotent).
        If a filesystem cannot be unmounted the lab stays in the journal for heal."""
        if self._down:
            return
        for proc in reversed(list(self.processes.values())):
            proc.stop(grace_s=5.0)
        if self.toxiproxy_proc is not None:
            self.toxiproxy_proc.stop(grace_s=3.0)
        stop_strays(self.root)
        # The credentials of servers that are gone: no run directory keeps a secret.
        for proc in self.processes.values():
            if proc.env_file is not None:
                Path(proc.env_file).unlink(missing_ok=True)
        self._remove_disks()
        self._down = True
        if self.journal is not None:
            self.journal.lab_down(self.lab_id)
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    # -- process control (used by process faults) -----------------------------------

    def _proc(self, name: str) -> ManagedProcess:
        try:
            return self.processes[name]
        except KeyError:
            if is_external(self.specs.get(name)):
                raise LabError(
                    f"service '{name}' is an external server: the lab has no process for it"
                ) from None
            raise LabError(f"the lab has no process for service '{name}'") from None

    def kill_service(self, name: str, sig: int) -> None:
        proc = self._proc(name)
        proc.send(sig)
        if not proc.wait_exit(10.0):
            raise LabError(f"service '{name}' did not exit within 10 s of signal {sig}")

    def stop_service(self, name: str, grace_s: float) -> None:
        self._proc(name).stop(grace_s=grace_s, sig=signal.SIGTERM)

    def begin_stop(self, name: str, grace_s: float) -> None:
        proc = self._proc(name)
        proc.stop_deadline = time.time() + grace_s
        self._journal()  # so that a heal elsewhere knows a stop is under way
        proc.send(signal.SIGCONT)
        proc.send(signal.SIGTERM)

    def finish_stop(self, name: str) -> None:
        proc = self._proc(name)
        if proc.stop_deadline is None:
            return
        if not proc.wait_exit(max(proc.stop_deadline - time.time(), 0.0)):
            proc.send(signal.SIGKILL)
            if not proc.wait_exit(10.0):
                raise LabError(f"service '{name}' did not exit within 10 s of SIGKILL")

    def start_service(self, name: str) -> None:
        proc = self._proc(name)
        # A graceful stop still under way would exit right after this check.
        self.finish_stop(name)
        if proc.alive():
            return
        proc.stop_deadline = None
        proc.start()
        self._journal()
        handle = self.services.get(name)
        if handle is not None:
            upstream = handle.upstream
            wait_until(
                lambda: service_ready(handle.kind, upstream.host, upstream.port),
                self.ready_deadline_s,
                f"service '{name}' restarting",
                proc,
            )

    def pause_service(self, name: str) -> None:
        try:
            self._proc(name).pause(timeout_s=10.0)
        finally:
            # The stopped processes, so that `harness heal` finds them even if the
            # service's own process dies before it is resumed.
            self._journal()

    def resume_service(self, name: str) -> None:
        self._proc(name).resume()
        self._journal()

    def service_running(self, name: str) -> bool:
        return self._proc(name).alive()

    def service_pid(self, name: str) -> int | None:
        proc = self._proc(name).process()
        return proc.pid if proc is not None else None

    def log_tail(self, name: str, lines: int) -> list[str]:
        """The last ``lines`` lines of a service's log file (``toxiproxy``: the server's)."""
        path = self.root / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return [f"(no log: {path})"]
        return text.splitlines()[-lines:]

    def resource_probe(self) -> ProcessProbe:
        """RSS and CPU of each service's process, and the Toxiproxy server's."""
        return ProcessProbe(lab_targets(self.processes, self.toxiproxy_proc))

    def process_state(self, name: str) -> str:
        proc = self.processes.get(name)
        live = proc.process() if proc is not None else None
        if live is None:
            return "not running"
        try:
            paused = live.status() == "stopped"
        except Exception:
            paused = False
        return f"pid {live.pid}" + (" (paused)" if paused else "")

    # -- persistence -----------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        return super().to_record() | {
            "toxiproxy_process": self.toxiproxy_proc.to_record() if self.toxiproxy_proc else None,
            "processes": {n: p.to_record() for n, p in self.processes.items()},
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], journal: Journal | None = None) -> LocalLab:
        """Rebuild a handle on a lab started by another (possibly dead) harness process."""
        from harness.scenario import LabSpec

        specs = LabSpec.model_validate({"services": record.get("specs", {})}).services
        lab = cls(
            Path(record["root"]),
            dict(specs),
            journal,
            persistent=bool(record.get("persistent")),
            lab_id=record["lab_id"],
        )
        lab._restore(record)
        if record.get("toxiproxy_process"):
            lab.toxiproxy_proc = ManagedProcess.from_record(record["toxiproxy_process"])
        lab.processes = {
            n: ManagedProcess.from_record(p) for n, p in record.get("processes", {}).items()
        }
        return lab
