"""The native-noise filter on fd 2: known lines kept back, every other byte passed on."""

import logging
import os

from lab1.nativelog import native_noise_filtered

NOISE = [
    b"ERROR:2026-11-29 06:32:40 4465:4465 DeviceProperties.cpp:56] gpuGetDeviceCount failed "
    b"with code 35",
    b"[W1129 06:32:40.620045764 CPUAllocator.cpp:245] Memory block of unknown size was "
    b"allocated before the profiling started, profiler results will not include the "
    b"deallocation event",
    b"USDT:2026-11-29 06:32:40 4465:4465 SyncActivityProfilerHandler.cpp:39] profiler_start",
]
KEPT = [
    b"ERROR:2026-11-29 06:32:40 4465:4465 CuptiActivityApi.cpp:12] CUPTI_ERROR_NOT_INITIALIZED",
    b"[W1129 06:32:40.1 Module.cpp:1] some other warning",
]


def _write_lines(lines: list[bytes]) -> None:
    for line in lines:
        os.write(2, line + b"\n")  # as the C++ libraries do: straight to the descriptor


def test_known_noise_is_kept_back_and_everything_else_passes(capfd):
    with native_noise_filtered() as dropped:
        _write_lines([NOISE[0], KEPT[0], NOISE[1], NOISE[2], KEPT[1]])
        os.write(2, b"no newline at the end")
    err = capfd.readouterr().err
    assert err == (b"\n".join(KEPT) + b"\nno newline at the end").decode()
    assert [line.encode() for line in dropped] == NOISE
    os.write(2, NOISE[0] + b"\n")  # after the block, fd 2 is the terminal's again
    assert "gpuGetDeviceCount" in capfd.readouterr().err


def test_at_debug_level_nothing_is_filtered(capfd):
    logger = logging.getLogger("lab1")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with native_noise_filtered() as dropped:
            _write_lines(NOISE)
    finally:
        logger.setLevel(level)
    assert dropped == [] and capfd.readouterr().err == b"\n".join(NOISE).decode() + "\n"
