"""Well-known timm models on the Hugging Face Hub, one or two per family, for the model picker.

Every entry is a public ``timm/`` repo with config.json + model.safetensors (what the loader reads). The Hub has no
timm repo carrying the multilabel or regression task metadata this app reads (``task``, ``label_names`` /
``target_names``), so those tasks are reached by typing a repo published with upload_model.py.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One model of the picker.

    Attributes:
        family: the architecture family people know it by.
        repo_id: the Hub repo, ``timm/<architecture>.<pretrained tag>``.
        about: what it was trained on and its input size, for the label.
    """

    family: str
    repo_id: str
    about: str

    @property
    def architecture(self) -> str:
        """The architecture name timm knows: the repo name before its pretrained tag."""
        return self.repo_id.split("/", 1)[1].split(".", 1)[0]

    @property
    def label(self) -> str:
        """What the picker shows."""
        return f"{self.family} · {self.repo_id} ({self.about})"


CATALOG: tuple[Entry, ...] = (
    Entry("ResNet-50", "timm/resnet50.a1_in1k", "ImageNet-1k, 224 px"),
    Entry("ConvNeXt-T", "timm/convnext_tiny.fb_in22k_ft_in1k", "ImageNet-22k -> 1k, 224 px"),
    Entry("EfficientNet-B0", "timm/efficientnet_b0.ra_in1k", "ImageNet-1k, 224 px"),
    Entry("ViT-B/16", "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", "ImageNet-21k -> 1k, 224 px"),
    Entry("DeiT-S", "timm/deit_small_patch16_224.fb_in1k", "ImageNet-1k, 224 px"),
    Entry("Swin-T", "timm/swin_tiny_patch4_window7_224.ms_in1k", "ImageNet-1k, 224 px"),
    Entry("EVA-02-Ti", "timm/eva02_tiny_patch14_336.mim_in22k_ft_in1k", "MIM ImageNet-22k -> 1k, 336 px"),
)


def choices() -> list[tuple[str, str]]:
    """(label, repo id) for each entry, in the order above."""
    return [(entry.label, entry.repo_id) for entry in CATALOG]
