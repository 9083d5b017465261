"""The embedded default competition: real MNIST digits, long-tailed, deterministic, checksummed."""
import json

import numpy as np
import pytest

from harness.data import build_mnist, ensure_split, mnist_class_counts, open_dataset, read_answer_key, validation_images
from harness.preprocess import default_transform, pipeline_key
from harness.errors import DataError
from conftest import ROOT



@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_mnist(tmp_path_factory.mktemp("mnist") / "data", seed=2021)


def test_layout_and_long_tail(built):
    counts = mnist_class_counts()
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.01)
    for part in ("train", "val"):
        assert sorted(p.name for p in (built.root / part).iterdir()) == [str(d) for d in range(9)]
    key = read_answer_key(built)
    per_class = np.bincount(key.labels, minlength=9)
    assert per_class[0] > 8 * per_class[-1]
    assert 0.45 < key.public.mean() < 0.55
    for c in range(9):  # stratified: every class is split about half and half
        public = key.public[key.labels == c].sum()
        assert abs(public - per_class[c] / 2) <= 1


def test_test_images_carry_no_label(built):
    names = [p.name for p in built.test_images]
    assert all(n[:-4].isdigit() for n in names)
    assert not list((built.root / "test").glob("*/"))


def test_build_is_deterministic_and_matches_the_committed_data(built, tmp_path):
    again = build_mnist(tmp_path / "again", seed=2021)
    mine = json.loads((built.root / "manifest.json").read_text())
    assert mine == json.loads((again.root / "manifest.json").read_text())
    assert mine == json.loads((ROOT / "data" / "manifest.json").read_text())


def test_a_changed_file_is_noticed(built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built.root, copy)
    victim = sorted((copy / "test").iterdir())[3]
    victim.write_bytes(victim.read_bytes()[:-5] + b"xxxxx")
    with pytest.raises(DataError, match=f"{victim.name} differs from its checksum"):
        open_dataset(copy, built.classes)
    victim.unlink()
    with pytest.raises(DataError, match="is missing"):
        open_dataset(copy, built.classes)


def test_missing_class_folder_is_named(built, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built.root, copy)
    shutil.rmtree(copy / "train" / "7")
    with pytest.raises(DataError, match="missing class folder"):
        open_dataset(copy, built.classes)


def cached_test_tensor(dataset, size, mean, std):
    from harness.preprocess import cached_test_tensor as cached

    return cached(dataset, size, default_transform(size, mean, std), pipeline_key(None, mean, std))


def test_cache_is_built_once_and_keyed_by_size(built):
    path, hit = cached_test_tensor(built, (16, 16), [0.5] * 3, [0.5] * 3)
    assert not hit and np.load(path).shape == (len(built.test_images), 3, 16, 16)
    again, hit = cached_test_tensor(built, (16, 16), [0.5] * 3, [0.5] * 3)
    assert hit and again == path
    other, hit = cached_test_tensor(built, (20, 20), [0.5] * 3, [0.5] * 3)
    assert not hit and other != path


def test_cache_is_keyed_by_the_preprocessing(built):
    default, _ = cached_test_tensor(built, (16, 16), [0.5] * 3, [0.5] * 3)
    other, hit = cached_test_tensor(built, (16, 16), [0.4] * 3, [0.5] * 3)
    assert not hit and other != default


def test_validation_images_stand_in_for_the_test_images_class_by_class(built):
    sample = validation_images(built, 18)
    assert [p.parent.name for p in sample[:9]] == list(built.classes) and len(sample) == 18
    assert all(p.parent.parent.name == "val" for p in sample)


def test_grayscale_becomes_three_equal_channels(built):
    path, _ = cached_test_tensor(built, (28, 28), [0.5] * 3, [0.5] * 3)
    x = np.load(path)[:5]
    assert np.array_equal(x[:, 0], x[:, 1]) and np.array_equal(x[:, 1], x[:, 2])


def test_corrupt_image_gives_a_clear_error(tmp_path):
    from harness.preprocess import load_image

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot decode image"):
        load_image(bad)


def test_train_split_labels(built):
    paths, labels = ensure_split(built.root, "train", built.classes)
    assert len(paths) == len(labels) and set(labels) == set(range(9))
