"""The course's one precision policy: bf16 autocast only where the hardware runs bf16 natively, fp32 elsewhere.

bf16 (bfloat16: fp32's 8 exponent bits, 7 mantissa bits) halves the bytes moved and, on hardware with bf16
arithmetic, runs matrix multiplies and convolutions 1.3-3x faster than fp32. Without such hardware PyTorch
*emulates* it by converting every operand, and autocast makes things slower, not faster. Measured on a 2-core
AMD EPYC with AVX2 only (torch 2.14.1, 2 threads): sampling 4 shapes images (25 guided DDIM steps) takes 4 s in
fp32 and 74 s under bf16 autocast.

Native bf16, as :func:`native_bf16` detects it:

* CUDA: ``torch.cuda.is_bf16_supported(including_emulation=False)`` (Ampere and newer);
* x86 CPUs: AMX tiles (Intel Sapphire Rapids and newer) or AVX512-BF16 (Intel Cooper Lake, AMD Zen 4 and newer),
  as PyTorch reports them, *and* PyTorch/oneDNN allowed to use them: ``ATEN_CPU_CAPABILITY=avx2`` or
  ``ONEDNN_MAX_CPU_ISA=AVX2`` (the way to emulate an AVX2-only laptop on a newer CPU) turn them off;
* anything else (AVX2-only and ARM CPUs, Apple MPS): no.

Choosing, in order: the ``precision`` argument a function is given, then an enclosing
``with precision_scope(...)``, then the environment variable ``T2I_PRECISION``, then ``"auto"``. Each of them is ``"auto"`` (bf16 where native, fp32 otherwise), ``"fp32"`` or ``"bf16"`` (bf16
autocast even where it is emulated: slow, but it reproduces a bf16 run exactly).
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar

import torch

PRECISIONS = ("auto", "fp32", "bf16")
ENV_VAR = "T2I_PRECISION"
_SCOPE: ContextVar[str | None] = ContextVar("t2i_precision_scope", default=None)
_ONEDNN_BF16_ISAS = ("BF16", "AMX", "FP16", "AVX10", "ALL", "DEFAULT")  # ONEDNN_MAX_CPU_ISA values that allow bf16


def check_precision(precision: str | None, name: str = "precision") -> str | None:
    """``precision`` itself (lower-cased), or one ValueError naming ``name`` and the accepted values."""
    if precision is None:
        return None
    if not isinstance(precision, str) or precision.lower() not in PRECISIONS:
        raise ValueError(f"{name}: expected one of {PRECISIONS}, got {precision!r}")
    return precision.lower()


def cpu_native_bf16() -> tuple[bool, str]:
    """(does this CPU run bf16 natively, for PyTorch, now?, why)."""
    capability = torch.backends.cpu.get_cpu_capability()  # honours ATEN_CPU_CAPABILITY
    amx, avx512_bf16 = torch.cpu._is_amx_tile_supported(), torch.cpu._is_avx512_bf16_supported()
    if not (amx or avx512_bf16):
        return False, f"CPU without AMX or AVX512-BF16 (PyTorch kernels: {capability})"
    onednn_isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if onednn_isa and not any(k in onednn_isa for k in _ONEDNN_BF16_ISAS):
        return False, f"ONEDNN_MAX_CPU_ISA={onednn_isa} turns the CPU's bf16 units off"
    if not capability.startswith("AVX512"):
        return False, f"PyTorch kernels limited to {capability} (ATEN_CPU_CAPABILITY)"
    return True, f"CPU with {'AMX' if amx else 'AVX512-BF16'}"


def native_bf16(device: torch.device | str) -> tuple[bool, str]:
    """(does ``device`` run bf16 natively?, a short reason for printing)."""
    device = torch.device(device)
    if device.type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
        return ok, "CUDA GPU with bf16" if ok else "CUDA GPU without native bf16"
    if device.type == "cpu":
        return cpu_native_bf16()
    return False, f"{device.type}: the course uses fp32 there"


def resolve_precision(precision: str | None = None, device: torch.device | str = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: the argument if given, else an enclosing :func:`precision_scope`, else
    ``$T2I_PRECISION``, else auto (bf16 where native)."""
    choice = check_precision(precision) or _SCOPE.get()
    if choice is None:
        choice = check_precision(os.environ.get(ENV_VAR, "auto"), f"environment variable {ENV_VAR}")
    if choice == "auto":
        return "bf16" if native_bf16(device)[0] else "fp32"
    return choice


@contextmanager
def precision_scope(precision: str):
    """Within the block, every call that is not given a precision uses ``precision`` (e.g. to re-measure a metric
    in the precision it was recorded in)."""
    token = _SCOPE.set(check_precision(precision))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def describe_precision(precision: str | None = None, device: torch.device | str = "cpu") -> str:
    """One line saying what the policy picks on ``device`` and why, e.g. for a benchmark's header."""
    chosen = resolve_precision(precision, device)
    native, why = native_bf16(device)
    source = f"precision={precision!r}" if precision is not None else \
        f"precision_scope({_SCOPE.get()!r})" if _SCOPE.get() else \
        f"{ENV_VAR}={os.environ[ENV_VAR]!r}" if ENV_VAR in os.environ else "auto"
    return f"{chosen} ({source}; {torch.device(device).type}: {why}, native bf16 {'yes' if native else 'no'})"


def autocast(device: torch.device | str, precision: str | None = None):
    """bf16 autocast if the policy picks bf16 on ``device``, else a no-op context (plain fp32)."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def cpu_description() -> str:
    """CPU model name and the instruction sets that matter here, for manifests and benchmark headers."""
    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        import platform
        name = platform.processor() or name
    flags = [f for f, ok in (("AVX2", torch.cpu._is_avx2_supported()), ("AVX512", torch.cpu._is_avx512_supported()),
                             ("AVX512-BF16", torch.cpu._is_avx512_bf16_supported()),
                             ("AMX", torch.cpu._is_amx_tile_supported())) if ok]
    return f"{name}, {os.cpu_count()} cores, {'/'.join(flags) or 'no AVX2'}, torch kernels " \
           f"{torch.backends.cpu.get_cpu_capability()}"


def add_precision_argument(parser) -> None:
    """``--precision auto|fp32|bf16`` on an argparse parser; :func:`apply_precision_argument` makes it the policy."""
    parser.add_argument("--precision", default=None, choices=list(PRECISIONS),
                        help=f"bf16 autocast or fp32 (default: ${ENV_VAR}, else auto = bf16 only where the "
                             "hardware runs it natively)")


def apply_precision_argument(args) -> None:
    """A command line's ``--precision``, if given, becomes ``$T2I_PRECISION`` for everything the command calls."""
    if getattr(args, "precision", None):
        os.environ[ENV_VAR] = args.precision
