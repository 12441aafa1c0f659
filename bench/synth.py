"""Benchmark: synthetic data throughput (images/s written to disk, FreiHAND layout).

python bench/synth.py [--num 400] [--workers 1 2] [--supersample 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from cliphand.synth.generator import SynthConfig
from cliphand.synth.writer import write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--supersample", type=int, default=SynthConfig.supersample)
    args = parser.parse_args()
    config = SynthConfig(supersample=args.supersample)
    print(f"{args.num} images of 224 x 224, openhand, supersample {args.supersample}")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            write_dataset(out, args.num, seed=0, config=config, workers=workers, progress=False)
            seconds = time.perf_counter() - start
        print(f"workers={workers}: {args.num / seconds:6.1f} images/s ({seconds:.1f} s, including start-up and JSON)")


if __name__ == "__main__":
    main()
