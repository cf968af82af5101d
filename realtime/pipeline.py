"""Threads joined by bounded queues: reader -> engine workers -> writer.

Files: every frame, in order, none dropped (blocking bounded queues give
back-pressure). Several engine workers may stylize whole frames at once: the reader
deals frames round-robin, one queue per worker, and the writer collects them in the
same order, so order holds without a reorder buffer. On a CPU, frames on their own
cores outrun one frame's convolutions split across them (benchmarks/video_e2e.py
--versus "--workers 1"). Live sources: the newest frame wins at both hand-offs, so
latency stays bounded when inference or writing is slower than the camera: the reader
replaces the stale frame in one 1-slot queue that every worker takes from, and workers
leave results in one slot where a newer result replaces an older one (counted as
dropped) and one older than the last shown is never shown. The caller's thread only
supervises, so Ctrl-C lands there and can finalise outputs as partial.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import frames as fr
from .engine import Engine
from .settings import RenderSettings
from .sinks import Sink
from .sources import Frame, Source

log = logging.getLogger("stylecam")

FILE_QUEUE = 4
LIVE_QUEUE = 1
_END = object()


SettingsProvider = Callable[[], RenderSettings]


class PostProcessor(Protocol):
    """Runs after the engine on full-size frames (e.g. the flicker stabilizer)."""

    def __call__(self, src: np.ndarray, out: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


@dataclass
class Stats:
    """Counts and per-stage timings (ms, exponential moving average) of one pipeline run."""

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    skipped: int = 0
    stage_ms: dict[str, float] = field(default_factory=dict)
    max_queue: dict[str, int] = field(default_factory=dict)
    queue_bounds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    live: bool = False
    _t0: float = field(default_factory=time.monotonic, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    EMA = 0.1

    def record(self, stage: str, ms: float) -> None:
        with self._lock:
            old = self.stage_ms.get(stage)
            self.stage_ms[stage] = ms if old is None else old + self.EMA * (ms - old)

    def stages(self) -> dict[str, float]:
        """A copy of the per-stage timings, taken under the lock the stages write them under."""
        with self._lock:
            return dict(self.stage_ms)

    def observe_queue(self, name: str, depth: int) -> None:
        with self._lock:  # several workers report at once
            if depth > self.max_queue.get(name, 0):
                self.max_queue[name] = depth

    @property
    def fps(self) -> float:
        elapsed = self.seconds or (time.monotonic() - self._t0)
        return self.frames_out / elapsed if elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"frames_in": self.frames_in, "frames_out": self.frames_out, "dropped": self.dropped,
                "skipped": self.skipped, "fps": round(self.fps, 2), "seconds": round(self.seconds, 3),
                "stage_ms": {k: round(v, 2) for k, v in self.stages().items()}, "interrupted": self.interrupted}


def constant_settings(settings: RenderSettings) -> SettingsProvider:
    """A provider for file runs, where settings never change."""
    return lambda: settings


def _put(q: queue.Queue, item: Any, abort: threading.Event) -> bool:
    """Blocking put that gives up when the run aborts (so no thread waits forever)."""
    while not abort.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


def _put_latest(q: queue.Queue, item: Any, stats: Stats) -> None:
    """Latest wins: replace whatever stale item waits in the 1-slot queue, counting the drop."""
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
                with stats._lock:
                    stats.dropped += 1
            except queue.Empty:
                pass


def _get(q: queue.Queue, abort: threading.Event) -> Any:
    while not abort.is_set():
        try:
            return q.get(timeout=0.05)
        except queue.Empty:
            continue
    return _END


class _NewestResult:
    """Live: the one result waiting for the writer, always the newest. A newer result replaces the
    waiting one; a result older than the one waiting or the last one written is dropped. Counts
    the workers that ended, so the writer knows when none will put again."""

    def __init__(self, workers: int, stats: Stats) -> None:
        self._cond = threading.Condition()
        self._waiting: tuple[int, Any] | None = None
        self._shown = -1
        self._ended = 0
        self._workers, self._stats = workers, stats

    def put(self, seq: int, item: Any) -> None:
        with self._cond:
            newest = self._waiting[0] if self._waiting is not None else self._shown
            if seq > newest:
                dropped = self._waiting is not None
                self._waiting = (seq, item)
                self._cond.notify()
            else:
                dropped = True
            if dropped:
                with self._stats._lock:
                    self._stats.dropped += 1

    def end(self) -> None:
        with self._cond:
            self._ended += 1
            self._cond.notify()

    def take(self, abort: threading.Event) -> Any:
        """The newest result, or _END once every worker has ended (or the run aborts)."""
        with self._cond:
            while self._waiting is None:
                if self._ended == self._workers or abort.is_set():
                    return _END
                self._cond.wait(0.05)
            (self._shown, item), self._waiting = self._waiting, None
            return item


def run_pipeline(source: Source, engine: Engine, sinks: Sequence[Sink], settings_provider: SettingsProvider,
                 post: Iterable[PostProcessor] = (), on_frame: Callable[[Frame, Frame, Stats], None] | None = None,
                 stop_event: threading.Event | None = None, *, progress: bool = True,
                 queue_size: int | None = None, workers: int = 1) -> Stats:
    """Run source -> engine -> post -> sinks until the source ends, `stop_event` is set or Ctrl-C.

    `workers` frames are stylized at once, so the engine's `stylize` must take concurrent
    calls when it is above 1.

    `settings_provider` is called once per frame in an engine worker's thread (with several
    workers, from several threads and not in frame order); its result needs
    `mix`, `strength`, `preserve_color`, `alpha` and `size` (working size: WxH, scale or
    None); an optional `stabilize=False` switches the post-processors off (they are
    reset when switched back on or when the working size changes).

    Closes the sinks (partial=True when interrupted or failed) and the source. Returns
    Stats with `interrupted` set on Ctrl-C (also a KeyboardInterrupt raised by a sink,
    settings provider or callback); any other worker exception is re-raised here.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    run = _Run(source, engine, sinks, settings_provider, list(post), on_frame, stop_event or threading.Event(),
               progress, queue_size, workers)
    run.start()
    try:
        _join(run.threads, run.done, source, run.abort, run.stop)
    except KeyboardInterrupt:
        run.stats.interrupted = True
        run.abort.set()
        _join(run.threads, run.done, source, run.abort, run.stop)
    finally:
        run.stop_clock()  # also when a second Ctrl-C lands in the join above
    return run.finish()


class _Run:
    """One pipeline run: its threads (reader, engine workers, writer), their queues and the ending."""

    def __init__(self, source: Source, engine: Engine, sinks: Sequence[Sink], settings_provider: SettingsProvider,
                 post: list[PostProcessor], on_frame: Callable[[Frame, Frame, Stats], None] | None,
                 stop: threading.Event, progress: bool, queue_size: int | None, workers: int = 1) -> None:
        self.source, self.engine, self.sinks, self.settings_provider = source, engine, sinks, settings_provider
        self.post, self.on_frame, self.stop = post, on_frame, stop
        self.live = bool(getattr(source, "live", False))
        self.workers = workers
        if self.live:  # one newest frame shared by all workers, one newest result (self.results)
            bounds, queues = (queue_size or LIVE_QUEUE, LIVE_QUEUE), 1
        else:
            # the frames waiting between two stages are shared among the workers' queues (rounded up)
            bound = max(1, -(-(queue_size or FILE_QUEUE) // workers))
            bounds, queues = (bound, bound), workers
        self.stats = Stats(live=self.live, queue_bounds={"read": bounds[0], "write": bounds[1]})
        for p in post:
            p.reset()
        self.abort = threading.Event()
        self.source_ended = threading.Event()
        # files: queue i carries frames i, i + workers, i + 2 * workers, ... to and from worker i
        self.q_in: list[queue.Queue] = [queue.Queue(maxsize=bounds[0]) for _ in range(queues)]
        self.q_out: list[queue.Queue] = [] if self.live else [queue.Queue(maxsize=bound) for _ in range(queues)]
        self.results = _NewestResult(workers, self.stats)
        self.errors: list[BaseException] = []
        self.bar = None
        if progress and not self.live:
            from .progress import progress as progress_bar

            self.bar = progress_bar(getattr(source, "frame_count", None), desc="stylize", unit="frames")
        self.done: list[threading.Event] = []
        jobs = [("reader", self.reader)]
        jobs += [(f"worker{i}" if self.workers > 1 else "worker", lambda i=i: self.worker(i))
                 for i in range(self.workers)]
        jobs += [("writer", self.writer)]
        self.threads = [threading.Thread(target=self._guard(fn), name=f"stylecam-{name}", daemon=True)
                        for name, fn in jobs]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _guard(self, fn: Callable[[], None]) -> Callable[[], None]:
        """`fn` with its exception kept for the caller's thread and a "done" event for _join."""
        finished = threading.Event()
        self.done.append(finished)

        def body() -> None:
            try:
                fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                self.errors.append(e)
                self.abort.set()
            finally:
                finished.set()
        return body

    def _hand_on(self, q: queue.Queue, item: object, stage: str) -> bool:
        """Queue an item for the next stage: live drops the stale one, files wait. False: aborted.
        (Live results go through self.results instead.)"""
        if self.live:
            _put_latest(q, item, self.stats)
        elif not _put(q, item, self.abort):
            return False
        self.stats.observe_queue(stage, q.qsize())
        return True

    def reader(self) -> None:
        it = iter(self.source)
        n = 0
        try:
            while not (self.stop.is_set() or self.abort.is_set()):
                t = time.perf_counter()
                try:
                    frame = next(it)
                except StopIteration:
                    self.source_ended.set()
                    break
                self.stats.record("read", (time.perf_counter() - t) * 1000)
                self.stats.frames_in += 1
                if not self._hand_on(self.q_in[n % len(self.q_in)], (frame, time.perf_counter(), n), "read"):
                    break
                n += 1
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            for i in range(self.workers):  # one end for each worker, in the queue it reads
                _put(self.q_in[i % len(self.q_in)], _END, self.abort)

    def worker(self, i: int = 0) -> None:
        q_in = self.q_in[i % len(self.q_in)]
        try:
            while True:
                item = _get(q_in, self.abort)
                if item is _END:
                    break
                frame, t_read, n = item
                settings = self.settings_provider()
                t = time.perf_counter()
                src = frame.image
                h, w = src.shape[:2]
                work = fr.target_size(settings.size, w, h)
                out = self.engine.stylize(fr.resize(src, work), settings.mix, strength=settings.strength,
                                          preserve_color=settings.preserve_color, alpha=settings.alpha)
                out = fr.resize(out, (w, h))
                self.stats.record("infer", (time.perf_counter() - t) * 1000)
                use_post = bool(self.post) and settings.stabilize
                # the post-processors run in the writer thread, overlapping the next frame's inference
                result = (frame, out, t_read, use_post, work)
                if self.live:
                    self.results.put(n, result)
                elif not self._hand_on(self.q_out[i], result, "write"):
                    break
        finally:
            if self.live:
                self.results.end()
            else:
                _put(self.q_out[i], _END, self.abort)

    def writer(self) -> None:
        # Post-processor state lives here, beside the post-processors: a live frame dropped on the
        # way cannot lose a reset (switched back on, or a new working size).
        post_on, size_seen = bool(self.post), None
        stats = self.stats
        n = 0
        while True:
            if self.live:
                item = self.results.take(self.abort)
            else:  # frames come back in the order the reader dealt them: frame n from worker n % workers
                item = _get(self.q_out[n % self.workers], self.abort)
            if item is _END:
                return
            n += 1
            frame, out, t_read, use_post, work = item
            if use_post != post_on or (size_seen is not None and work != size_seen):
                for p in self.post:
                    p.reset()
            post_on, size_seen = use_post, work
            if use_post:
                t = time.perf_counter()
                for p in self.post:
                    out = p(frame.image, out)
                stats.record("post", (time.perf_counter() - t) * 1000)
            out = Frame(out, frame.pts, frame.index, frame.name)
            t = time.perf_counter()
            for s in self.sinks:
                s.write(out)
            stats.record("write", (time.perf_counter() - t) * 1000)
            stats.frames_out += 1
            stats.record("latency", (time.perf_counter() - t_read) * 1000)
            if self.on_frame is not None:
                self.on_frame(frame, out, stats)
            if self.bar is not None:
                self.bar.update(1)

    def stop_clock(self) -> None:
        """The run's time and skip count, and the progress bar closed."""
        self.stats.seconds = time.monotonic() - self.stats._t0
        self.stats.skipped = int(getattr(self.source, "skipped", 0))
        if self.bar is not None:
            self.bar.close()

    def finish(self) -> Stats:
        """After the threads: close the sinks (partial when stopped early or failed) and the source;
        re-raise a worker's failure, else a sink's close failure."""
        stats = self.stats
        failure = next((e for e in self.errors if not isinstance(e, KeyboardInterrupt)), None)
        if any(isinstance(e, KeyboardInterrupt) for e in self.errors):
            stats.interrupted = True
        if not self.live and self.stop.is_set() and not self.source_ended.is_set():
            stats.interrupted = True  # a file run stopped before its end (a signal): its output is partial
        partial = stats.interrupted or failure is not None
        close_errors = []
        for s in self.sinks:
            try:
                s.close(partial=partial)
            except Exception as e:  # noqa: BLE001 - close every sink, report the first failure
                close_errors.append(e)
        try:
            self.source.close()
        except Exception as e:  # noqa: BLE001
            log.debug("source close failed: %s", e)
        if failure is not None:
            raise failure
        if close_errors:
            raise close_errors[0]
        return stats


def _join(threads: list[threading.Thread], done: list[threading.Event], source: Source,
          abort: threading.Event, stop: threading.Event) -> None:
    """Wait for all workers; a live source still blocked in a read 2 s after the run was told to
    stop (or aborted) is closed to unblock it.

    Waits on each worker's own "done" event, not Thread.join/is_alive: a Ctrl-C landing inside
    Thread.join can leave a running thread marked as stopped (CPython's _wait_for_tstate_lock), and
    the run would return while its reader still holds the camera."""
    deadline: float | None = None
    while not all(d.is_set() for d in done):
        for d in done:
            d.wait(timeout=0.05)
        if (abort.is_set() or stop.is_set()) and not done[0].is_set():
            deadline = deadline or time.monotonic() + 2.0
            if time.monotonic() > deadline and getattr(source, "live", False):
                source.close()
                deadline = time.monotonic() + 3600
    for t in threads:  # each has only its return left
        t.join(timeout=1.0)
