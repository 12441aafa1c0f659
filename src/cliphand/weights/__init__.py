"""The pretrained model shipped inside the package (see docs/model_card.md)."""
