"""The per-second time series of each phase as one PNG: a panel per fault with calls answered ok per second (the
throughput) and, on a second axis, errors, -32010 answers and transport errors per second (when they ended) and hung
calls (when they were sent); a vertical line at each fault event (kill, SIGTERM, store down, ...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

EVENT_STYLE = {  # which events get a line, and its colour
    "kill": "red", "sigterm": "darkorange", "exited": "orange", "ready": "green",
    "store_down": "red", "store_up": "green", "store_recovered": "blue", "clients_stop": "gray",
}


def plot(phases: list[dict[str, Any]], path: Path, title: str) -> None:
    fig, axes = plt.subplots(len(phases), 1, figsize=(11, 3.6 * len(phases)), squeeze=False)
    for ax, phase in zip(axes[:, 0], phases):
        ts = phase["timeseries"]
        t = [x + 0.5 for x in ts["seconds"]]  # bin k holds what ended in [k, k + 1)
        ax.plot(t, ts["ok"], color="tab:blue", label="ok / s")
        ax.set_ylabel("calls ok per second")
        ax.set_title(f"{phase['fault']}: " + ("PASS" if all(c["passed"] for c in phase["criteria"]) else "FAIL"), loc="left")
        err = ax.twinx()
        bars = (("errors", "tab:gray", "errors / s"), ("e32010", "tab:purple", "-32010 / s"),
                ("transport", "tab:red", "transport errors / s"), ("hung", "black", "hung (sent) / s"))
        for k, (key, colour, label) in enumerate(bars):
            err.bar([x + (k - 1.5) * 0.2 for x in t], ts[key], width=0.2, color=colour, label=label)
        err.set_ylabel("errors per second")
        err.set_ylim(bottom=0, top=max(4, max(v for key, _, _ in bars for v in ts[key] + [0]) * 1.3))
        labelled: set[str] = set()
        for e in ts["events"]:
            colour = EVENT_STYLE.get(e["kind"])
            if colour is None:
                continue
            ax.axvline(e["t"], color=colour, linestyle="--", linewidth=1,
                       label=None if e["kind"] in labelled else e["kind"])
            labelled.add(e["kind"])
        ax.set_xlabel("seconds since the clients started")
        handles = ax.get_legend_handles_labels()[0] + err.get_legend_handles_labels()[0]
        labels = ax.get_legend_handles_labels()[1] + err.get_legend_handles_labels()[1]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=7, ncol=9, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
