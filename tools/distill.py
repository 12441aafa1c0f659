"""Start a network whose backbone or HFA differs from a trained one's where that one is.

    python tools/distill.py --part hfa --teacher cliphand_mobile_v15.pt --config mobile_v9 \
        --data data69 --steps 500 --out distilled.pt
    python tools/distill.py --part backbone --teacher cliphand_mobile_v15.pt --config mobile_v10 \
        --data data72 --steps 500 --out distilled.pt
    cliphand train --config mobile_v9 --data data69 --init distilled.pt --out run

Every weight outside the part is copied from the teacher (MTED's token grid resampled when the
input size changes); then the new part is fitted to put out what the teacher's puts out (mean
squared error over each map's variance), so MHF, MTED and the heads downstream see the features
they were trained on, and fine-tuning starts near the teacher instead of from random features.
- hfa: the new HFA (say another `hfa_stage_dim`) is fitted on the teacher's own backbone features.
- backbone: a new backbone (say `hand_landmark`) keeps its pretrained network as it is; only its
  adapters (1x1 conv + BatchNorm per stage) are fitted to the teacher's backbone outputs.
Prints the relative error as it goes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from cliphand.data import dataset_records
from cliphand.data.augment import AugmentConfig
from cliphand.data.dataset import HandDataset
from cliphand.data.sample import collate_samples
from cliphand.model import build_model, load_config
from cliphand.model.checkpoint import load_checkpoint, model_from_state
from cliphand.model.mted import resize_positions
from cliphand.train.checkpoint import save_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("hfa", "backbone"), default="hfa", help="what differs from the teacher")
    parser.add_argument("--teacher", type=Path, required=True, help="the trained checkpoint")
    parser.add_argument("--config", required=True, help="the new network's config (name or YAML)")
    parser.add_argument("--data", type=Path, required=True, help="training images (cliphand synth writes them)")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint for `cliphand train --init`")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps < 1:
        raise SystemExit("--steps must be a positive integer")

    torch.manual_seed(args.seed)
    teacher_state = load_checkpoint(args.teacher)
    teacher = model_from_state(teacher_state, args.teacher).float().eval()
    config = load_config(args.config)
    student = build_model(config).eval()  # BatchNorm statistics stay the teacher's
    prefix, where = f"{args.part}.", "HFA" if args.part == "hfa" else "the backbone"
    kept = {k: v.float() for k, v in teacher.state_dict().items() if not k.startswith(prefix)}
    try:
        fresh = student.load_state_dict(resize_positions(kept, student), strict=False).missing_keys
    except RuntimeError as exc:  # a tensor of another shape
        reason = str(exc).splitlines()[-1].strip()
        raise SystemExit(f"{args.config} differs from the teacher outside {where}: {reason}") from None
    outside = [name for name in fresh if not name.startswith(prefix)]
    if outside:
        raise SystemExit(f"{args.config} differs from the teacher outside {where}: {outside[0]} has no counterpart")
    if args.part == "hfa":
        fitted = student.hfa

        def outputs_and_targets(image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
            with torch.no_grad():  # the new HFA learns on the teacher's own backbone features
                features = teacher.features(image)
                target = teacher.hfa(features)
            return [student.hfa(features)], [target]
    else:
        fitted = student.backbone.adapters

        def outputs_and_targets(image: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
            with torch.no_grad():
                targets = teacher.features(image)
            return student.features(image), targets

    augment = AugmentConfig(hue_deg=config.train.augment_hue_deg, gray_prob=config.train.augment_gray_prob,
                            background_prob=config.train.augment_background_prob)  # fmt: skip
    images = HandDataset(dataset_records("freihand", args.data, "training"), config.image_size, augment, args.seed)
    loader = torch.utils.data.DataLoader(
        images, args.batch_size, shuffle=True, collate_fn=collate_samples, num_workers=1,
        generator=torch.Generator().manual_seed(args.seed),
    )  # fmt: skip
    student.requires_grad_(False)  # no gradients through the parts that stay as they are
    fitted.requires_grad_(True).train()
    optimizer = torch.optim.AdamW(fitted.parameters(), lr=1e-3, weight_decay=1e-4)
    with tqdm(total=args.steps, desc=f"distilling {where}", unit="step") as bar:
        while bar.n < args.steps:
            for batch in loader:
                outputs, targets = outputs_and_targets(batch["image"])
                loss = sum(F.mse_loss(o, t) / t.var() for o, t in zip(outputs, targets, strict=True)) / len(targets)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                bar.update()
                bar.set_postfix(relative_error=f"{loss.item():.4f}")
                if bar.n >= args.steps:
                    break
    student.requires_grad_(True).eval()
    weights = {"config": config.to_dict(), "model": student.state_dict(), "step": 0}
    save_checkpoint(args.out, weights | {"hand_model": teacher_state["hand_model"]})
    print(f"wrote {args.out} ({where}'s relative error at the end: {loss.item():.4f})")


if __name__ == "__main__":
    main()
