"""Glyphs: an Omniglot-like few-shot set generated offline from the fonts matplotlib ships.

Omniglot (Lake et al. 2015) has 1623 characters from 50 alphabets, each drawn by 20 people.
Here each script (a Unicode block: Latin capitals, Greek small letters, Armenian, Hebrew,
Canadian syllabics, Braille, ...) is an alphabet, each character a class, and the 20 drawers
are renderings from the DejaVu and STIX fonts (regular, bold, italic, serif, monospace) that
have the character, each under a random affine distortion (rotation, scale, shear,
translation) and a random stroke weight. Characters that render like one met earlier
(Latin A, Greek Alpha, Cyrillic A) are kept once. Classes are split by script into train,
validation and test. The same seed gives the same set on every machine with the same
matplotlib version (the fonts come with it).
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np

from learned_opt.data.fewshot import FewShotImages, split_by_group

# (name, first code point, last code point), in the order duplicates are resolved.
SCRIPTS = (
    ("latin_capital", 0x41, 0x5A),
    ("latin_small", 0x61, 0x7A),
    ("digits", 0x30, 0x39),
    ("greek_capital", 0x391, 0x3A9),
    ("greek_small", 0x3B1, 0x3C9),
    ("cyrillic_capital", 0x410, 0x42F),
    ("cyrillic_small", 0x430, 0x44F),
    ("cyrillic_extended", 0x460, 0x4FF),
    ("armenian_capital", 0x531, 0x556),
    ("armenian_small", 0x561, 0x586),
    ("hebrew", 0x5D0, 0x5EA),
    ("arabic", 0x621, 0x64A),
    ("nko", 0x7C0, 0x7FF),
    ("lao", 0xE80, 0xEFF),
    ("georgian", 0x10D0, 0x10FA),
    ("canadian_syllabics_a", 0x1400, 0x14FF),
    ("canadian_syllabics_b", 0x1500, 0x15FF),
    ("canadian_syllabics_c", 0x1600, 0x167F),
    ("ogham", 0x1680, 0x169F),
    ("latin_ipa", 0x250, 0x2AF),
    ("letterlike", 0x2100, 0x214F),
    ("arrows", 0x2190, 0x21FF),
    ("math_operators", 0x2200, 0x22FF),
    ("technical", 0x2300, 0x23FF),
    ("box_drawing", 0x2500, 0x257F),
    ("geometric_shapes", 0x25A0, 0x25FF),
    ("symbols", 0x2600, 0x26FF),
    ("dingbats", 0x2700, 0x27BF),
    ("braille", 0x2800, 0x28FF),
    ("supplemental_arrows", 0x2900, 0x297F),
    ("math_symbols", 0x2980, 0x29FF),
    ("tifinagh", 0x2D30, 0x2D7F),
    ("glagolitic", 0x2C00, 0x2C5F),
    ("coptic", 0x2C80, 0x2CFF),
    ("lisu", 0xA4D0, 0xA4FF),
)
FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
)
SEED = 0
RENDER_SIZE = 56  # rendered at twice the image size, then averaged down: smooth strokes


def _font_files() -> list[str]:
    import matplotlib  # lazy: the plot extra

    directory = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    return [os.path.join(directory, name) for name in FONTS]


def _render(font, character: str, size: int) -> np.ndarray | None:
    """The character's ink (float32 in [0, 1]) scaled to fit a size x size box, centred; None
    when the font draws nothing for it."""
    font.clear()
    font.set_size(48, 72)
    font.set_text(character)
    font.draw_glyphs_to_bitmap(antialiased=True)
    ink = np.asarray(font.get_image(), np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.2), np.flatnonzero(ink.max(axis=0) > 0.2)
    if len(rows) < 2 or len(cols) < 2:
        return None
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    scale = (0.8 * size) / max(ink.shape)
    return _warp(ink[None], np.eye(2)[None] / scale, np.array(ink.shape)[None] / 2.0, size)[0]


def _warp(images: np.ndarray, inverses: np.ndarray, source_centres: np.ndarray, size: int) -> np.ndarray:
    """Affine resampling of a batch: out[b] is a size x size image whose pixel at offset d
    from its centre is images[b] at source_centres[b] + inverses[b] @ d, bilinearly
    interpolated (zero outside).

    Args:
      images: (batch, height, width) float32.
      inverses: (batch, 2, 2) maps from output offsets to source offsets.
      source_centres: (batch, 2) source points (row, column) that the output centre shows.
    """
    offsets = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1) - (size - 1) / 2.0
    coords = np.einsum("yxj,bij->byxi", offsets, inverses) + source_centres[:, None, None, :] - 0.5
    base = np.floor(coords).astype(np.int64)
    frac = coords - base
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    batch = np.arange(len(images))[:, None, None]
    out = np.zeros((len(images), size, size), np.float32)
    for dy in (0, 1):
        for dx in (0, 1):
            y = np.clip(base[..., 0] + dy + 1, 0, padded.shape[1] - 1)
            x = np.clip(base[..., 1] + dx + 1, 0, padded.shape[2] - 1)
            weight = (frac[..., 0] if dy else 1 - frac[..., 0]) * (frac[..., 1] if dx else 1 - frac[..., 1])
            out += weight * padded[batch, y, x]
    return out


def _distort(templates: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Each 'drawer's' version of its template (templates: (batch, render, render)): a random
    affine map (rotation up to 15 degrees, scale 0.8-1.15, shear up to 0.25, shift up to 10%
    of the box), a random stroke weight (thinned, as drawn, or thickened by a 3x3 maximum),
    averaged down to (batch, size, size)."""
    count, render = templates.shape[0], templates.shape[1]
    angle = np.deg2rad(rng.uniform(-15, 15, count))
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shear = np.tile(np.eye(2), (count, 1, 1))
    shear[:, 0, 1] = rng.uniform(-0.25, 0.25, count)
    forward = rotation @ shear * rng.uniform(0.8, 1.15, count)[:, None, None]
    shift = rng.uniform(-0.1, 0.1, (count, 2)) * render
    images = _warp(templates, np.linalg.inv(forward), render / 2.0 - shift, render)
    weight = rng.integers(3, size=count)[:, None, None]
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    thick = np.max([padded[:, i : i + render, j : j + render] for i in range(3) for j in range(3)], axis=0)
    images = np.where(weight == 0, np.clip(2.0 * images - 0.6, 0.0, 1.0), np.where(weight == 2, thick, images))
    factor = render // size
    return images.reshape(count, size, factor, size, factor).mean(axis=(2, 4))


def _characters(fonts) -> list[tuple[int, str, list[int]]]:
    """(script index, character, indices of the fonts that draw it) for every character of
    `SCRIPTS` drawn by at least two fonts and unlike every character kept before it."""
    charmaps = [set(font.get_charmap()) for font in fonts]
    kept = []
    signatures = np.zeros((sum(last - first + 1 for _, first, last in SCRIPTS), 16 * 16), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for script, (_, first, last) in enumerate(SCRIPTS):
            for code in range(first, last + 1):
                having = [k for k, charmap in enumerate(charmaps) if code in charmap]
                if len(having) < 2:
                    continue
                signature = _render(fonts[having[0]], chr(code), 16)
                if signature is None:
                    continue
                signature = signature.ravel() - signature.mean()
                signature /= np.linalg.norm(signature) + 1e-6
                if kept and float(np.max(signatures[: len(kept)] @ signature)) > 0.95:
                    continue
                signatures[len(kept)] = signature
                kept.append((script, chr(code), having))
    return kept


def generate_glyphs(
    examples: int = 20,
    image_size: int = 28,
    seed: int = SEED,
    fractions: tuple[float, float, float] = (0.6, 0.15, 0.25),
    max_classes: int | None = None,
) -> FewShotImages:
    """The glyph set: one class per character, `examples` distorted renderings each.

    Args:
      examples: images per class (Omniglot has 20).
      image_size: side of the square images.
      seed: the distortions and the split of scripts into train / validation / test.
      fractions: the shares of scripts in train, validation and test.
      max_classes: keep only the first classes of each script, in proportion, so that the
        set has about this many (for tests); None keeps all.

    Returns:
      `FewShotImages` with uint8 ink (255 on a 0 background), shape (classes, examples,
      image_size, image_size, 1).
    """
    from matplotlib import ft2font

    fonts = [ft2font.FT2Font(path) for path in _font_files()]
    characters = _characters(fonts)
    if max_classes is not None:
        keep = np.linspace(0, len(characters) - 1, max_classes).round().astype(int)
        characters = [characters[k] for k in sorted(set(keep))]
    rng = np.random.default_rng(seed)
    render = RENDER_SIZE * image_size // 28 // 2 * 2
    images = np.zeros((len(characters), examples, image_size, image_size, 1), np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c, (_, character, having) in enumerate(characters):
            templates = [_render(fonts[k], character, render) for k in having]
            templates = np.stack([t for t in templates if t is not None])
            drawn = _distort(templates[rng.integers(len(templates), size=examples)], rng, image_size)
            images[c, :, :, :, 0] = np.round(255 * np.clip(drawn, 0.0, 1.0))
    scripts = sorted({script for script, _, _ in characters})
    groups = np.array([scripts.index(script) for script, _, _ in characters], np.int32)
    return FewShotImages(
        images=images,
        groups=groups,
        group_names=tuple(SCRIPTS[script][0] for script in scripts),
        splits=split_by_group(groups, len(scripts), fractions, seed),
        class_names=tuple(character for _, character, _ in characters),
    )


@functools.lru_cache(maxsize=4)
def glyphs(examples: int = 20, image_size: int = 28, seed: int = SEED, max_classes: int | None = None) -> FewShotImages:
    """`generate_glyphs` with its default split, kept in memory after the first call."""
    return generate_glyphs(examples, image_size, seed, max_classes=max_classes)
