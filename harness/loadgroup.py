"""Several load-generator processes driven as one (``load.processes``).

Every process gets its share of the load (``harness/loadsplit.py``), the same ``t0``
and the same stop time. They all append to the one history file: each writes whole
lines in single ``write(2)`` calls on an ``O_APPEND`` descriptor, which a local Linux
filesystem does not interleave (the analysis checks every process's records arrived,
``loadsplit.generator_rows``). If one process ends before the stop time, the others
are sent SIGTERM at once: a run with part of its load missing is an error either way,
and the rest should not keep loading a service nobody judges correctly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from harness.loadproc import LoadGenerator, loadgen_config
from harness.loadsplit import Share


class LoadGroup:
    """The load generators of one run, started, stopped and reported together."""

    def __init__(self, generators: list[tuple[Share, LoadGenerator]]) -> None:
        self.members = generators
        self.stop_ns: int | None = None
        self.stopped_for: str | None = None
        self._lock = threading.Lock()
        for _, gen in generators:
            gen.on_exit = self._exited

    @classmethod
    def build(
        cls,
        run_dir: Path,
        split: list[Share],
        seed: int,
        env: dict[str, str] | None = None,
        **common: Any,
    ) -> LoadGroup:
        """One generator per share; ``common``: the rest of ``loadgen_config``'s arguments.
        Several generators get distinct seeds, so their users do not repeat each
        other's choices."""
        several = len(split) > 1 or split[0].prefix != ""
        members = []
        for index, share in enumerate(split):
            config = loadgen_config(
                **common,
                seed=seed * 64 + index if several else seed,
                users=share.users,
                spawn_rate=share.spawn_rate,
                stages=None if share.stages is None else [s.to_dict() for s in share.stages],
                process_prefix=share.prefix,
            )
            name = share.name if several else ""
            members.append((share, LoadGenerator(run_dir, config, env=env, name=name)))
        return cls(members)

    @property
    def generators(self) -> list[LoadGenerator]:
        return [gen for _, gen in self.members]

    @property
    def pids(self) -> list[int]:
        return [gen.proc.pid for gen in self.generators if gen.proc is not None]

    def start(self, ready_deadline_s: float) -> None:
        """Start every process, then wait for all of them (they set up in parallel)."""
        try:
            for gen in self.generators:
                gen.spawn()
            end = time.monotonic() + ready_deadline_s
            for gen in self.generators:
                gen.wait_ready(max(end - time.monotonic(), 0.1))
        except BaseException:
            self.close()
            raise

    def go(self, t0_ns: int, stop_ns: int) -> None:
        self.stop_ns = stop_ns
        for gen in self.generators:
            gen.go(t0_ns, stop_ns)

    def _exited(self, gen: LoadGenerator) -> None:
        """A process's output ended: if that was early, stop the others now."""
        if self.stop_ns is None or not gen.exited_early(self.stop_ns):
            return
        with self._lock:
            if self.stopped_for is not None:
                return
            self.stopped_for = gen.name or "the load generator"
        for other in self.generators:
            if other is not gen and other.proc is not None and other.proc.poll() is None:
                other.proc.terminate()

    def wait(self, timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        return all(gen.wait(max(end - time.monotonic(), 0.0)) for gen in self.generators)

    def early_exits(self, stop_ns: int) -> list[str]:
        """An error for each process that ended before ``stop_ns``: the first one's
        with its log's tail, the ones stopped because of it say so."""
        out = []
        for gen in self.generators:
            if not gen.exited_early(stop_ns):
                continue
            if self.stopped_for in (None, gen.name, "the load generator"):
                what = f"the load generator{gen.label} exited before the end of the load"
                out.append(gen.failure(what))
            else:
                out.append(f"load generator {gen.name} was stopped: {self.stopped_for} had exited")
        return out

    def close(self) -> None:
        for gen in self.generators:
            gen.close()

    def last_tick(self) -> dict[str, Any]:
        """The latest second of every process together: counts and users summed, the
        highest p95 (a sum of percentiles means nothing; the worst is what to watch)."""
        ticks = [gen.last_tick for gen in self.generators if gen.last_tick]
        if not ticks:
            return {}
        out: dict[str, Any] = {k: sum(t.get(k, 0) for t in ticks) for k in ("ok", "fail", "info")}
        out["users"] = sum(max(t.get("users", 0), 0) for t in ticks)
        for name in ("p50_ms", "p95_ms", "p99_ms"):
            values = [t[name] for t in ticks if t.get(name) is not None]
            out[name] = max(values) if values else None
        out["totals"] = {
            k: sum(gen.ticked[k] for gen in self.generators) for k in ("ok", "fail", "info")
        }
        return out

    def stop_early(self, stop_ns: int) -> None:
        """End the load now, before the stop time it was given: ``stop_ns`` becomes the
        planned end, so stopping is not taken for an early exit."""
        self.stop_ns = stop_ns
        for gen in self.generators:
            if gen.proc is not None and gen.proc.poll() is None:
                gen.proc.terminate()

    def done_records(self) -> list[dict[str, Any]]:
        """``{op: "loadgen-done", ...}`` per process, for the history: what it says it
        ran and wrote (``records`` None when it never reported)."""
        return [
            {
                "op": "loadgen-done",
                "generator": share.name,
                "prefix": share.prefix,
                "pid": gen.proc.pid if gen.proc is not None else None,
                "users": share.users,
                **gen.totals,
                "records": gen.records,
            }
            for share, gen in self.members
        ]
