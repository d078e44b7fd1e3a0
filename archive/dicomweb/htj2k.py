"""HTJ2K in WADO-RS negotiation: what a request that names HTJ2K can get besides what
``accept`` offers from the stored file.

Only a request naming an HTJ2K transfer syntax (1.2.840.10008.1.2.4.201/.202/.203) or media
type (``image/jphc``, Cornerstone's ``image/jhc``) looks the rendition up, so ``*`` and
everything else cost no query. With a rendition of the current file, its frames (or file) are
offered after the stored bytes and before decoded pixels: ``transfer-syntax=*`` still gets the
stored syntax. Without one, HTJ2K is encoded on the fly, but only when nothing else the client
accepts can be sent (``fallback``): a viewer that takes HTJ2K *or* the stored syntax gets the
original until the rendition is made, never a wait for the encoder, never a 5xx.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from archive import renditions
from archive.models import Instance, Rendition

from . import accept

JPHC = "image/jphc"
FRAME_TYPES = (accept.OCTET_STREAM, JPHC)
INSTANCE_TYPES = (accept.DICOM,)


@dataclass(frozen=True)
class RenditionOffer(accept.Offer):
    """Sent from the instance's HTJ2K rendition, not from its stored file."""


@dataclass(frozen=True)
class Options:
    rendition: Rendition | None = None
    offers: list[accept.Offer] = field(default_factory=list)
    fallback: list[accept.Offer] = field(default_factory=list)


def asked(ranges: Sequence[accept.MediaRange]) -> bool:
    return any(
        r.transfer_syntax in renditions.SYNTAXES or JPHC in (r.media_type, r.part) for r in ranges
    )


def options(ranges: Sequence[accept.MediaRange], row: Instance, media_types) -> Options:
    if not asked(ranges) or renditions.unencodable(row):
        return Options()
    if rendition := renditions.current(row):
        offers = [RenditionOffer(t, ts) for ts in renditions.SYNTAXES for t in media_types]
        return Options(rendition, offers)
    fly = [accept.Offer(t, ts, stored=False) for ts in renditions.SYNTAXES for t in media_types]
    return Options(fallback=fly)


def with_rendition(offers: list[accept.Offer], extra: Options) -> list[accept.Offer]:
    """The stored bytes first, then the rendition, then anything decoded or transcoded."""
    stored = [offer for offer in offers if offer.stored]
    return stored + extra.offers + [offer for offer in offers if not offer.stored]


def on_the_fly(offer: accept.Offer) -> bool:
    return not offer.stored and offer.transfer_syntax in renditions.SYNTAXES
