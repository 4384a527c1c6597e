"""2-D projections (pipeline/projection.py) and the projection that ``inspect: true`` adds for vector columns."""

from __future__ import annotations

import importlib.util

import datasets
import numpy as np
import pytest

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.inspect import inspect_data, render_inspection, text_scatter
from runway_for_ml.pipeline.projection import is_vector_column, project_2d


def blobs(n: int = 120, dim: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    centres = rng.normal(0, 10, (3, dim))
    return (centres[labels] + rng.normal(0, 1, (n, dim))).astype(np.float32), labels


def nearest_neighbour_agreement(points: np.ndarray, labels: np.ndarray) -> float:
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_keeps_clusters_apart_and_is_deterministic(method: str) -> None:
    vectors, labels = blobs()
    points = project_2d(vectors, method, seed=3)
    assert points.shape == (120, 2) and points.dtype == np.float32
    assert nearest_neighbour_agreement(points, labels) > 0.95
    np.testing.assert_allclose(project_2d(vectors, method, seed=3), points)


def test_pca_matches_the_leading_principal_axis() -> None:
    rng = np.random.default_rng(1)
    line = rng.normal(size=(200, 1)) * np.array([[3.0, 4.0, 0.0]]) + rng.normal(0, 0.01, (200, 3))
    points = project_2d(line, "pca")
    # All the variance is along (3, 4, 0)/5: the first coordinate carries it, the second almost none.
    assert points[:, 0].std() > 50 * points[:, 1].std()


def test_small_inputs_fall_back_to_pca_and_errors_are_clear() -> None:
    assert project_2d(np.ones((3, 5)), "tsne").shape == (3, 2)
    assert project_2d(np.zeros((0, 4)), "tsne").shape == (0, 2)
    with pytest.raises(RunwayError, match="did you mean 'tsne'"):
        project_2d(np.ones((3, 5)), "tnse")
    with pytest.raises(RunwayError, match="NaN"):
        project_2d(np.array([[0.0, np.nan]] * 10), "pca")
    with pytest.raises(RunwayError, match="different lengths"):
        project_2d([[1.0, 2.0], [1.0]], "pca")


@pytest.mark.skipif(importlib.util.find_spec("umap") is not None, reason="umap-learn is installed")
def test_umap_without_umap_learn_says_how_to_install_it() -> None:
    with pytest.raises(RunwayError, match="pip install umap-learn"):
        project_2d(blobs()[0], "umap")


def test_vector_columns_are_recognised() -> None:
    assert is_vector_column([[1.0, 2.0], [3.0, 4.0]])
    assert not is_vector_column([1.0, 2.0])
    assert not is_vector_column([[1.0, 2.0], [3.0]])
    assert not is_vector_column([["a", "b"], ["c", "d"]])
    assert not is_vector_column([])


def test_inspect_adds_a_projection_of_vector_columns(capsys: pytest.CaptureFixture[str]) -> None:
    vectors, labels = blobs(60, 8)
    ds = datasets.Dataset.from_dict({"embedding": vectors.tolist(), "label": labels.tolist(), "text": ["x"] * 60})
    info = inspect_data(ds)
    assert list(info["projections"]) == ["embedding"]
    projection = info["projections"]["embedding"]
    assert (projection["method"], projection["rows"], projection["dim"]) == ("pca", 60, 8)
    assert nearest_neighbour_agreement(np.array(projection["points"]), labels) > 0.95
    render_inspection("process:Embed", info)
    out = capsys.readouterr().out
    assert "embedding: PCA of 60 vectors of 8 values" in out and "@" in out
    assert "projections" not in inspect_data(datasets.Dataset.from_dict({"label": [1, 2]}))


def test_text_scatter_marks_where_points_are() -> None:
    picture = text_scatter([[0, 0], [0, 0], [1, 1]], width=3, height=3).splitlines()
    assert picture == ["|  o|", "|   |", "|@  |"]
