"""A stand-in for the parts of torch.cuda that make events, streams and graphs, for a machine
with no GPU: it knows a "current device" as CUDA does (``torch.cuda.device(i)`` selects it,
default 0) and records on which device each event, stream and capture was made. Installed
over torch.cuda's attributes with pytest's monkeypatch, so it lives for one test only.

It reproduces the one behaviour of torch.cuda.graph that matters for several GPUs: without an
explicit ``stream`` it captures on a class-wide default stream made once, on whichever device
was current the first time (torch/cuda/graphs.py, ``default_capture_stream``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch


@dataclass
class FakeCuda:
    current: int = 0
    log: list[tuple[str, int]] = field(default_factory=list)  # (what, device it was made on)
    default_capture_stream: FakeStream | None = None

    def install(self, monkeypatch) -> FakeCuda:
        fake = self

        @contextlib.contextmanager
        def device(dev):
            index = torch.device(dev).index if not isinstance(dev, int) else dev
            before, fake.current = fake.current, index if index is not None else fake.current
            try:
                yield
            finally:
                fake.current = before

        class Event:
            def __init__(self, enable_timing: bool = False):
                self.device = fake.current
                fake.log.append(("event", self.device))

            def record(self, stream=None):
                fake.log.append(("record", fake.current if stream is None else stream.device))

            def synchronize(self):
                pass

            def elapsed_time(self, other) -> float:
                return 1.0  # ms

        def stream_of(dev=None) -> FakeStream:
            index = fake.current if dev is None else torch.device(dev).index or 0
            fake.log.append(("stream", index))
            return FakeStream(index)

        @contextlib.contextmanager
        def use_stream(stream):
            before, fake.current = fake.current, stream.device
            try:
                yield
            finally:
                fake.current = before

        class CUDAGraph:
            def __init__(self):
                fake.log.append(("graph", fake.current))

        @contextlib.contextmanager
        def graph(cuda_graph, pool=None, stream=None, **kw):
            if stream is None:
                if fake.default_capture_stream is None:
                    fake.default_capture_stream = FakeStream(fake.current)
                stream = fake.default_capture_stream
            fake.log.append(("capture", stream.device))
            with use_stream(stream):
                yield

        monkeypatch.setattr(torch.cuda, "device", device)
        monkeypatch.setattr(torch.cuda, "Event", Event)
        monkeypatch.setattr(torch.cuda, "Stream", stream_of)
        monkeypatch.setattr(torch.cuda, "stream", use_stream)
        monkeypatch.setattr(torch.cuda, "current_stream", stream_of)
        monkeypatch.setattr(torch.cuda, "CUDAGraph", CUDAGraph)
        monkeypatch.setattr(torch.cuda, "graph", graph)
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
        return self

    def devices(self, what: str) -> list[int]:
        """The devices every ``what`` (event, record, stream, graph, capture) was made on."""
        return [d for w, d in self.log if w == what]


@dataclass
class FakeStream:
    device: int

    def wait_stream(self, other: FakeStream) -> None:
        pass
