"""Do two runtimes caption alike? The one measure that the export's check, `make agreement`
and the reference benchmark all report.

Two lists of top captions of the same images are compared: how many are identical, and
the share of the reference's word positions the other fills with the same word (the longer
caption of each pair counts, so a caption cut short or run on loses its extra words).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Agreement:
    """How often one runtime's top caption equals another's on the same images."""

    images: int
    identical: int
    """Images whose top caption is exactly the reference's."""
    word_share: float
    """Share of the reference's words found at the same position."""

    def __str__(self) -> str:
        return (
            f"top caption identical on {self.identical}/{self.images} images, "
            f"{self.word_share:.1%} of words"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "identical": self.identical, "word_share": self.word_share}


def compare_captions(reference: Sequence[str], other: Sequence[str]) -> Agreement:
    """`other`'s captions against `reference`'s, image by image (same order, same length)."""
    identical = matched = total = 0
    for want, have in zip(reference, other, strict=True):
        identical += want == have
        want_words, have_words = want.split(), have.split()
        matched += sum(a == b for a, b in zip(want_words, have_words, strict=False))
        total += max(len(want_words), len(have_words))
    return Agreement(len(reference), identical, matched / total if total else 1.0)
