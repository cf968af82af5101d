"""The threaded pipeline with doubles: ordering, back-pressure, dropping, shutdown, errors, Ctrl-C."""
import threading
import time

import numpy as np
import pytest

from stylecam.realtime.pipeline import RenderSettings, Stats, constant_settings, run_pipeline
from stylecam.realtime.sources import Frame

SETTINGS = RenderSettings({0: 1.0})


class ListSource:
    """A file-like source: a fixed list of frames."""

    live = False
    fps = 30.0

    def __init__(self, n=10, size=(32, 24)):
        self.size, self.frame_count = size, n
        self.closed = False

    def __iter__(self):
        w, h = self.size
        for i in range(self.frame_count):
            yield Frame(np.full((h, w, 3), i, np.uint8), i / 30, i)

    def close(self):
        self.closed = True


class FastCamera:
    """A live source that produces frames as fast as it can, forever (until closed)."""

    live = True
    fps = 1000.0
    frame_count = None
    size = (32, 24)

    def __init__(self):
        self.closed = threading.Event()

    def __iter__(self):
        i = 0
        while not self.closed.is_set():
            yield Frame(np.full((24, 32, 3), i % 256, np.uint8), i / 1000, i)
            i += 1
            time.sleep(0.0005)

    def close(self):
        self.closed.set()


class SlowEngine:
    """Inverts; sleeps to be slower than the camera; records the sizes it was given."""

    device = "cpu"
    bank = None

    def __init__(self, delay=0.0, fail_at=None):
        self.delay, self.fail_at, self.calls, self.sizes = delay, fail_at, 0, []

    def stylize(self, frame, mix, *, strength=1.0, preserve_color=False, alpha=1.0):
        self.calls += 1
        self.sizes.append(frame.shape[:2])
        if self.fail_at is not None and self.calls == self.fail_at:
            raise RuntimeError("engine exploded")
        time.sleep(self.delay)
        return 255 - frame


class RecordingSink:
    def __init__(self, delay=0.0, interrupt_after=None):
        self.frames, self.delay, self.interrupt_after = [], delay, interrupt_after
        self.closed_partial = None

    def write(self, frame):
        if self.interrupt_after is not None and len(self.frames) == self.interrupt_after:
            raise KeyboardInterrupt
        time.sleep(self.delay)
        self.frames.append(frame)

    def close(self, partial=False):
        self.closed_partial = partial


def _no_pipeline_threads():
    return not [t for t in threading.enumerate() if t.name.startswith("stylecam-")]


def test_file_source_every_frame_in_order():
    src, sink = ListSource(25), RecordingSink(delay=0.001)
    stats = run_pipeline(src, SlowEngine(), [sink], constant_settings(SETTINGS), progress=False)
    assert [f.index for f in sink.frames] == list(range(25))
    assert all(int(f.image[0, 0, 0]) == 255 - f.index for f in sink.frames)
    assert stats.frames_in == stats.frames_out == 25 and stats.dropped == 0
    assert {"read", "infer", "write", "latency"} <= set(stats.stage_ms)
    assert max(stats.max_queue.values()) <= stats.queue_bounds["read"]
    assert sink.closed_partial is False and src.closed and not stats.interrupted
    assert _no_pipeline_threads()


class MeetingEngine:
    """Inverts, after a delay that varies by frame (so later frames can finish first); its first two
    calls wait for each other, so a run that never stylizes two frames at once fails. Counts how
    many calls were in flight at most."""

    device = "cpu"
    bank = None

    def __init__(self, wait=5.0, fail_at=None):
        self.barrier = threading.Barrier(2, timeout=wait)
        self.lock = threading.Lock()
        self.calls = self.in_flight = self.most_in_flight = 0
        self.fail_at = fail_at

    def stylize(self, frame, mix, *, strength=1.0, preserve_color=False, alpha=1.0):
        with self.lock:
            self.calls += 1
            n = self.calls
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if n <= 2:
                self.barrier.wait()
            if n == self.fail_at:
                raise RuntimeError("engine exploded")
            time.sleep(0.001 * (int(frame[0, 0, 0]) * 7 % 5))
            return 255 - frame
        finally:
            with self.lock:
                self.in_flight -= 1


def test_several_workers_stylize_frames_at_once_and_keep_their_order():
    src, sink, engine = ListSource(31), RecordingSink(), MeetingEngine()
    seen = []
    stats = run_pipeline(src, engine, [sink], constant_settings(SETTINGS), progress=False, workers=3,
                         on_frame=lambda s, o, st: seen.append(threading.current_thread().name))
    assert engine.most_in_flight >= 2  # the barrier passed: two frames were in the engine at once
    assert [f.index for f in sink.frames] == list(range(31))
    assert all(int(f.image[0, 0, 0]) == 255 - f.index for f in sink.frames)
    assert stats.frames_in == stats.frames_out == 31 and engine.calls == 31
    assert stats.queue_bounds == {"read": 2, "write": 2}  # FILE_QUEUE frames in flight, over 3 queues
    assert max(stats.max_queue.values()) <= 2
    assert set(seen) == {"stylecam-writer"} and sink.closed_partial is False and src.closed
    assert _no_pipeline_threads()


def test_one_worker_never_stylizes_two_frames_at_once():
    engine = MeetingEngine(wait=0.3)
    with pytest.raises(threading.BrokenBarrierError):
        run_pipeline(ListSource(4), engine, [RecordingSink()], constant_settings(SETTINGS), progress=False)
    assert engine.most_in_flight == 1 and _no_pipeline_threads()


def test_a_failing_worker_stops_the_others_and_the_run_is_partial():
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="engine exploded"):
        run_pipeline(ListSource(60), MeetingEngine(fail_at=9), [sink], constant_settings(SETTINGS),
                     progress=False, workers=3)
    assert sink.closed_partial is True and len(sink.frames) <= 8
    assert [f.index for f in sink.frames] == list(range(len(sink.frames)))
    assert _no_pipeline_threads()


def test_several_workers_must_be_a_count():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        run_pipeline(ListSource(2), SlowEngine(), [RecordingSink()], constant_settings(SETTINGS), workers=0)


def test_live_source_drops_stale_frames_with_bounded_queues():
    cam, sink, stop = FastCamera(), RecordingSink(), threading.Event()
    seen, running = [], []

    def on_frame(src, out, stats):
        seen.append((src.index, out.index, threading.current_thread().name))
        if len(seen) == 15:
            running.extend(t.name for t in threading.enumerate() if t.name.startswith("stylecam-"))
            stop.set()

    stats = run_pipeline(cam, SlowEngine(delay=0.01), [sink], constant_settings(SETTINGS), on_frame=on_frame,
                         stop_event=stop)
    assert stats.live and stats.dropped > 0 and stats.frames_in > stats.frames_out >= 15
    assert stats.queue_bounds == {"read": 1, "write": 1}
    assert stats.max_queue["read"] <= 1 and stats.max_queue.get("write", 0) <= 1
    indices = [f.index for f in sink.frames]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert seen[0][2] == "stylecam-writer" and all(s == o for s, o, _ in seen)
    assert sorted(running) == ["stylecam-reader", "stylecam-worker", "stylecam-writer"]
    assert not stats.interrupted and sink.closed_partial is False
    assert cam.closed.is_set() and _no_pipeline_threads()


def test_live_workers_stylize_the_newest_frames_at_once_and_show_them_in_order():
    cam, sink, stop, engine = FastCamera(), RecordingSink(), threading.Event(), MeetingEngine()
    running = []

    def on_frame(src, out, stats):
        if len(sink.frames) == 20:
            running.extend(t.name for t in threading.enumerate() if t.name.startswith("stylecam-"))
            stop.set()

    stats = run_pipeline(cam, engine, [sink], constant_settings(SETTINGS), on_frame=on_frame, stop_event=stop,
                         workers=3)
    assert engine.most_in_flight >= 2  # the barrier passed: two camera frames were in the engine at once
    assert stats.queue_bounds == {"read": 1, "write": 1} and stats.max_queue["read"] <= 1
    indices = [f.index for f in sink.frames]
    assert indices == sorted(set(indices)) and len(indices) >= 20
    assert all(int(f.image[0, 0, 0]) == 255 - f.index % 256 for f in sink.frames)
    assert stats.dropped > 0 and stats.frames_in >= stats.frames_out + stats.dropped
    assert sorted(running) == ["stylecam-reader", "stylecam-worker0", "stylecam-worker1", "stylecam-worker2",
                               "stylecam-writer"]
    assert not stats.interrupted and sink.closed_partial is False
    assert cam.closed.is_set() and _no_pipeline_threads()


class OvertakenEngine:
    """The first frame it is given finishes only after the next one has: a result older than one
    already shown. Notes which frame that was."""

    device = "cpu"
    bank = None

    def __init__(self):
        self.second_done, self.lock, self.calls, self.first = threading.Event(), threading.Lock(), 0, None

    def stylize(self, frame, mix, *, strength=1.0, preserve_color=False, alpha=1.0):
        with self.lock:
            self.calls += 1
            n = self.calls
            if n == 1:
                self.first = int(frame[0, 0, 0])
        if n == 1:
            assert self.second_done.wait(5.0)
            time.sleep(0.05)  # the second one's result reaches the writer first
        elif n == 2:
            self.second_done.set()
        return 255 - frame


def test_a_live_result_overtaken_by_a_newer_one_is_dropped_not_shown_late():
    cam, sink, stop, engine = FastCamera(), RecordingSink(), threading.Event(), OvertakenEngine()

    def on_frame(src, out, stats):
        if len(sink.frames) == 5:
            stop.set()

    stats = run_pipeline(cam, engine, [sink], constant_settings(SETTINGS), on_frame=on_frame,
                         stop_event=stop, workers=2)
    shown = [int(f.image[0, 0, 0]) for f in sink.frames]
    assert 255 - engine.first not in shown[:5]  # the camera's frame values repeat every 256 frames
    indices = [f.index for f in sink.frames]
    assert indices == sorted(set(indices)) and len(indices) >= 5
    assert _no_pipeline_threads()


class NotingCamera(FastCamera):
    """FastCamera noting when it hands each frame over."""

    def __init__(self):
        super().__init__()
        self.handed = {}

    def __iter__(self):
        for f in super().__iter__():
            self.handed[f.index] = time.perf_counter()
            yield f


@pytest.mark.parametrize("workers", [1, 2])
def test_a_slow_writer_shows_the_newest_result_not_one_that_waited_for_it(workers):
    """Writing (a recording, the stabilizer) slower than inference: the frame written next is the
    newest one stylized, so latency stays near one write plus one inference, not two writes."""
    cam, sink, stop, ages = NotingCamera(), RecordingSink(delay=0.05), threading.Event(), []

    def on_frame(src, out, stats):
        ages.append(time.perf_counter() - cam.handed[src.index])
        if len(ages) == 12:
            stop.set()

    stats = run_pipeline(cam, SlowEngine(delay=0.01), [sink], constant_settings(SETTINGS), on_frame=on_frame,
                         stop_event=stop, workers=workers)
    # one write (50 ms) + one inference (10 ms) + slack; a result kept waiting through a write: > 100 ms
    assert sorted(ages)[len(ages) // 2] < 0.09, ages
    assert stats.dropped > 0 and _no_pipeline_threads()


def test_a_failing_live_worker_stops_the_others():
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="engine exploded"):
        run_pipeline(FastCamera(), MeetingEngine(fail_at=9), [sink], constant_settings(SETTINGS),
                     progress=False, workers=3)
    assert sink.closed_partial is True and _no_pipeline_threads()


def test_a_live_source_stuck_in_a_read_is_closed_when_the_run_is_told_to_stop():
    """A source that stops handing frames over (a paused camera swallowing them) still lets the run end."""

    class Stuck(FastCamera):
        def __iter__(self):
            yield Frame(np.zeros((24, 32, 3), np.uint8), 0.0, 0)
            self.closed.wait()  # nothing more until closed

    cam, stop = Stuck(), threading.Event()
    threading.Timer(0.2, stop.set).start()
    t = time.monotonic()
    stats = run_pipeline(cam, SlowEngine(), [RecordingSink()], constant_settings(SETTINGS), stop_event=stop)
    assert cam.closed.is_set() and time.monotonic() - t < 5 and stats.frames_out == 1
    assert _no_pipeline_threads()


def test_settings_provider_sets_working_size_and_output_keeps_source_size():
    calls = []

    def provider():
        calls.append(1)
        return RenderSettings({0: 1.0}, size=(16, 12) if len(calls) % 2 else 0.5)

    engine, sink = SlowEngine(), RecordingSink()
    run_pipeline(ListSource(4, size=(64, 48)), engine, [sink], provider, progress=False)
    assert len(calls) == 4
    assert engine.sizes == [(12, 16), (24, 32), (12, 16), (24, 32)]
    assert all(f.image.shape == (48, 64, 3) for f in sink.frames)


def test_post_processors_run_after_engine_and_reset():
    class Offset:
        def __init__(self):
            self.resets, self.calls = 0, 0

        def __call__(self, src, out):
            self.calls += 1
            assert src.shape == out.shape
            return np.ascontiguousarray(out // 2)

        def reset(self):
            self.resets += 1

    post, sink = Offset(), RecordingSink()
    run_pipeline(ListSource(5), SlowEngine(), [sink], constant_settings(SETTINGS), post=[post], progress=False)
    assert post.calls == 5 and post.resets == 1
    assert int(sink.frames[0].image[0, 0, 0]) == 255 // 2

    post2 = Offset()
    flips = iter([True, False, False, True, True])
    sink2 = RecordingSink()
    run_pipeline(ListSource(5), SlowEngine(), [sink2],
                 lambda: RenderSettings({0: 1.0}, stabilize=next(flips)), post=[post2], progress=False)
    assert post2.calls == 3 and post2.resets == 3  # start, switched off, switched back on
    assert int(sink2.frames[1].image[0, 0, 0]) == 254  # frame 1: stabilizer off


def test_worker_exception_is_reraised_and_threads_end():
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="engine exploded"):
        run_pipeline(ListSource(30), SlowEngine(fail_at=5), [sink], constant_settings(SETTINGS), progress=False)
    assert sink.closed_partial is True and len(sink.frames) <= 4
    assert _no_pipeline_threads()


def test_keyboard_interrupt_in_sink_finalises_partial():
    sink = RecordingSink(interrupt_after=6)
    stats = run_pipeline(ListSource(40), SlowEngine(), [sink], constant_settings(SETTINGS), progress=False)
    assert stats.interrupted and sink.closed_partial is True and len(sink.frames) == 6
    assert _no_pipeline_threads()


def test_keyboard_interrupt_in_settings_provider_finalises_partial():
    n = [0]

    def provider():
        n[0] += 1
        if n[0] > 3:
            raise KeyboardInterrupt
        return SETTINGS

    sink = RecordingSink()
    stats = run_pipeline(ListSource(40), SlowEngine(), [sink], provider, progress=False)
    assert stats.interrupted and sink.closed_partial is True and len(sink.frames) <= 3  # queued ones may be cut
    assert _no_pipeline_threads()


def test_keyboard_interrupt_in_caller_thread_stops_a_live_run():
    cam, sink = FastCamera(), RecordingSink()
    main = threading.main_thread()
    assert threading.current_thread() is main

    import _thread

    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    stats = run_pipeline(cam, SlowEngine(delay=0.005), [sink], constant_settings(SETTINGS))
    timer.join()
    assert stats.interrupted and sink.closed_partial is True and stats.frames_out > 0
    assert cam.closed.is_set() and _no_pipeline_threads()


def test_stats_moving_average():
    s = Stats()
    s.record("infer", 10.0)
    s.record("infer", 20.0)
    assert s.stage_ms["infer"] == pytest.approx(11.0)
    assert set(s.as_dict()) >= {"frames_in", "frames_out", "dropped", "fps", "stage_ms"}


def test_stats_timings_read_under_the_writers_lock():
    """Readers (the live HUD) copy the timings while stages add new ones: no 'dict changed size' errors."""
    import threading

    from stylecam.realtime.pipeline import Stats

    s = Stats()
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            s.record(f"stage{i % 5000}", 1.0)
            i += 1
    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(20000):
            s.stages()
    finally:
        stop.set()
        t.join()
    assert len(s.stages()) > 0
