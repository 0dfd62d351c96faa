"""The auction formats, by the name used in a lot's `format`."""

from app.auction.formats import sealed, sequential, timed
from app.auction.formats.base import Applier, FormatSpec

SPECS: dict[str, FormatSpec] = {
    "timed": timed.SPEC,
    "sequential": sequential.SPEC,
    "sealed": sealed.SPEC,
}

__all__ = ["SPECS", "Applier", "FormatSpec"]
