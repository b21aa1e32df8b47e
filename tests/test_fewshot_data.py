"""The few-shot image sets: generated glyphs and the readers of Omniglot and miniImageNet folders."""

import numpy as np
import pytest

from learned_opt.data.fewshot import split_by_group
from learned_opt.data.fewshot_readers import read_miniimagenet, read_omniglot
from learned_opt.data.glyphs import generate_glyphs

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def small_glyphs():
    return generate_glyphs(examples=4, max_classes=60)


def test_glyphs_are_the_same_for_the_same_seed(small_glyphs):
    again = generate_glyphs(examples=4, max_classes=60)
    np.testing.assert_array_equal(small_glyphs.images, again.images)
    assert small_glyphs.class_names == again.class_names
    other = generate_glyphs(examples=4, max_classes=60, seed=1)
    assert not np.array_equal(small_glyphs.images, other.images)


def test_glyph_splits_are_disjoint_by_script(small_glyphs):
    images, groups, splits = small_glyphs.images, small_glyphs.groups, small_glyphs.splits
    assert images.shape[1:] == (4, 28, 28, 1) and images.dtype == np.uint8
    assert sorted(np.concatenate(list(splits.values()))) == list(range(len(images)))
    scripts = {name: set(groups[index]) for name, index in splits.items()}
    assert all(scripts[name] for name in scripts)
    assert not (scripts["train"] & scripts["test"]) and not (scripts["validation"] & scripts["test"])
    # ink on a dark background, and each class's drawings differ from one another
    assert 5 < images.mean() < 120
    assert all(not np.array_equal(c[0], c[1]) for c in images)


def test_split_by_group_needs_three_groups():
    with pytest.raises(ValueError, match="at least 3 groups"):
        split_by_group(np.zeros(4, np.int32), 2, (0.6, 0.2, 0.2), 0)


def _write_png(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _fake_omniglot(root, drawings=3):
    rng = np.random.default_rng(0)
    for folder, alphabets in (
        ("images_background", ["Alpha", "Beta"]),
        ("images_evaluation", ["Gamma", "Delta", "Eps"]),
    ):
        for alphabet in alphabets:
            for character in ("character01", "character02"):
                for k in range(drawings):
                    pixels = np.full((105, 105), 255, np.uint8)
                    pixels[rng.integers(105, size=200), rng.integers(105, size=200)] = 0
                    _write_png(root / folder / alphabet / character / f"{k:02d}.png", pixels)


def test_read_omniglot_parses_its_folders(tmp_path):
    _fake_omniglot(tmp_path)
    data = read_omniglot(str(tmp_path), validation_alphabets=1)
    assert data.images.shape == (10, 3, 28, 28, 1)
    assert data.images.mean() < 128  # white paper becomes a 0 background, strokes become ink
    names = [data.class_names[k] for k in data.splits["train"]]
    assert names == ["Alpha/character01", "Alpha/character02", "Beta/character01", "Beta/character02"]
    # evaluation alphabets sorted by name: Delta to validation, Eps and Gamma to test
    assert [data.class_names[k] for k in data.splits["validation"]] == ["Delta/character01", "Delta/character02"]
    assert {data.class_names[k].split("/")[0] for k in data.splits["test"]} == {"Eps", "Gamma"}
    assert data.group_names[0] == "images_background/Alpha"


def test_read_omniglot_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="images_background"):
        read_omniglot(str(tmp_path))
    _fake_omniglot(tmp_path)
    with pytest.raises(ValueError, match="at least one must be left for test"):
        read_omniglot(str(tmp_path), validation_alphabets=3)
    (tmp_path / "images_background" / "Alpha" / "character01" / "00.png").unlink()
    with pytest.raises(ValueError, match="same number of images"):
        read_omniglot(str(tmp_path), validation_alphabets=1)


def _fake_miniimagenet(root, per_class=2):
    rng = np.random.default_rng(0)
    for file_name, labels in (("train.csv", ["n01", "n02"]), ("val.csv", ["n03"]), ("test.csv", ["n04", "n05"])):
        rows = ["filename,label"]
        for label in labels:
            for j in range(per_class):
                name = f"{label}{j:04d}.jpg"
                _write_png_rgb(root / "images" / name, rng.integers(256, size=(30, 40, 3), dtype=np.uint8))
                rows.append(f"{name},{label}")
        (root / file_name).write_text("\n".join(rows) + "\n")


def _write_png_rgb(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def test_read_miniimagenet_parses_its_split_files(tmp_path):
    _fake_miniimagenet(tmp_path)
    data = read_miniimagenet(str(tmp_path), image_size=16)
    assert data.images.shape == (5, 2, 16, 16, 3)
    assert data.class_names == ("n01", "n02", "n03", "n04", "n05")
    assert [list(data.splits[s]) for s in ("train", "validation", "test")] == [[0, 1], [2], [3, 4]]
    assert list(data.groups) == [0, 0, 1, 2, 2]


def test_read_miniimagenet_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.csv"):
        read_miniimagenet(str(tmp_path))
    _fake_miniimagenet(tmp_path)
    (tmp_path / "val.csv").write_text("file,class\nx.jpg,n03\n")
    with pytest.raises(ValueError, match="filename,label"):
        read_miniimagenet(str(tmp_path))
    (tmp_path / "val.csv").write_text("filename,label\nmissing.jpg,n03\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        read_miniimagenet(str(tmp_path))
