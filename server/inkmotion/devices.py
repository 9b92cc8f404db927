"""Choosing the devices jobs run on, at run time."""

from __future__ import annotations

from inkmotion.errors import InvalidInput
from inkmotion.v1 import animation_service_pb2 as service_pb2


def resolve_devices(spec: str) -> list[str]:
    """'auto' -> every CUDA device, else the CPU; 'cpu'; 'cuda' -> cuda:0; 'cuda:N'."""
    import torch

    spec = spec.strip().lower()
    if spec == "auto":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(count)] or ["cpu"]
    if spec == "cpu":
        return ["cpu"]
    if spec == "cuda":
        spec = "cuda:0"
    if spec.startswith("cuda:") and spec[5:].isdigit():
        index = int(spec[5:])
        available = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= available:
            raise InvalidInput("--device", f"{spec} is not here: this machine has {available} CUDA device(s)")
        return [spec]
    raise InvalidInput("--device", f"{spec!r} is not one of auto, cpu, cuda, cuda:N")


def describe(device: str) -> service_pb2.DeviceInfo:
    import torch

    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        return service_pb2.DeviceInfo(name=device, description=props.name, memory_bytes=props.total_memory)
    import os

    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return service_pb2.DeviceInfo(name="cpu", description=f"CPU, {os.cpu_count()} cores, torch {torch.__version__}", memory_bytes=memory)
