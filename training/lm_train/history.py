"""The training history of a checkpoint: the chain of runs it was trained in (each run initialised from the
previous one's checkpoint with `train.py --init-from`), for an honest description in the exported model.

A checkpoint's own `step` / `train_seconds` count only its last run; `history` (saved by train.py since
it was added) lists the runs before it. Older checkpoints have no `history`: their chain is given to
`export_models.py` as a list of the earlier checkpoints (`--quant-chain`, `--float-chain`).
"""
import os


def run_name(path: str) -> str:
    """`.../runs/quant4/last.pt` -> `quant4`; `.../runs/float_step200.pt` -> `float_step200`."""
    base = os.path.basename(path)
    if base == "last.pt":
        return os.path.basename(os.path.dirname(os.path.abspath(path)))
    return os.path.splitext(base)[0]


def entry(ck: dict, path: str) -> dict:
    """One run of the chain: its name, steps, CPU training seconds and whether it was quantised."""
    return {"run": ck.get("run") or run_name(path), "steps": int(ck["step"]),
            "train_seconds": float(ck.get("train_seconds", 0.0)), "quantize": bool(ck["quantize"])}


def chain(ck: dict, path: str, earlier=None) -> list:
    """Runs that made checkpoint `ck` (loaded from `path`), first to last. `earlier`: entries of the
    runs before it; default: the checkpoint's own `history` (empty if it has none)."""
    before = list(earlier) if earlier is not None else list(ck.get("history", []))
    return before + [entry(ck, path)]


def describe(kind: str, runs: list) -> str:
    """The exported model's doc string: total steps and time over the whole chain, and each run."""
    steps = sum(r["steps"] for r in runs)
    minutes = sum(r["train_seconds"] for r in runs) / 60
    quant = runs[-1]["quantize"]
    parts = ", ".join(f"{r['run']} {r['steps']}" + (" (float)" if quant and not r["quantize"] else "")
                      for r in runs)
    n = len(runs)
    how = f"in {n} runs, each initialised from the previous one ({parts})" if n > 1 else f"in 1 run ({parts})"
    return (f"lm {kind}, distilled from MoveNet Lightning by training/train.py: {steps} steps {how}; "
            f"{minutes:.0f} min CPU in all")
