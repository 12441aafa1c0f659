"""Turn a training checkpoint into the weights that ship inside the package (fp16, network only).

    python tools/release_weights.py RUN/best.pt [--out src/cliphand/weights/cliphand_mobile_v15.pt]

Run once per release: git keeps every committed blob, so commit one file per release, not one
per experiment. The model card (docs/model_card.md) records how RUN was trained.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cliphand import DEFAULT_WEIGHTS, __version__
from cliphand.train.checkpoint import release_checkpoint

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "cliphand" / "weights" / DEFAULT_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path, help="a training checkpoint (best.pt or last.pt)")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where the release file goes")
    args = parser.parse_args()
    out = release_checkpoint(args.checkpoint, args.out, trained_from=args.checkpoint.name, cliphand_version=__version__)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
