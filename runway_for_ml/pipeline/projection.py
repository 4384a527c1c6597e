"""2-D projections of vectors (embeddings, pixel rows): t-SNE, PCA, UMAP.

Used by ``runway embed`` (the scatter of a model's embeddings) and by ``inspect: true`` on a node
whose column holds vectors (a PCA picture of a sample). Plain numpy in, ``[N, 2]`` float32 out.

>>> import numpy as np
>>> points = project_2d(np.random.default_rng(0).normal(size=(50, 8)), method="pca")
>>> points.shape
(50, 2)

Why openTSNE for ``tsne`` (the default): it interpolates the repulsive forces on a grid with FFTs
("FIt-SNE"), so its cost grows about linearly with the number of points, and can use idle cores.
scikit-learn's ``TSNE`` runs exact Barnes-Hut for 1,000 iterations; on 5,000 x 384 vectors openTSNE
takes about a third of its time (``benchmarks/bench_embeddings.py`` prints the ratio).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from runway_for_ml.errors import RunwayError, did_you_mean

__all__ = ["METHODS", "as_matrix", "check_method", "is_vector_column", "project_2d"]

METHODS = ("tsne", "pca", "umap")
# t-SNE needs a few times more points than its perplexity; below this it is not meaningful.
_MIN_TSNE_POINTS = 8
_MIN_PARALLEL_POINTS = 2000
_EXACT_NEIGHBOURS_POINTS = 10_000
_FFT_POINTS = 3000
# Iterations after the 250 of early exaggeration (openTSNE's default is 500). With openTSNE's learning
# rate (n / 12) the layout has settled by then: on scikit-learn's digits 250 gives the same 10-NN
# accuracy in 2-D (0.969 vs 0.970) and trustworthiness (0.992) as 500, in half the time.
_TSNE_ITERATIONS = 250


def as_matrix(vectors: Any) -> np.ndarray:
    """``vectors`` (a 2-D array, a list of equal-length lists, a tensor) as a float32 ``[N, D]`` matrix."""
    if hasattr(vectors, "detach"):
        vectors = vectors.detach().cpu().numpy()
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except ValueError as exc:
        raise RunwayError(f"cannot project vectors of different lengths: {exc}") from exc
    if matrix.ndim == 1 and len(matrix):
        matrix = matrix.reshape(len(matrix), -1)
    if matrix.ndim != 2:
        raise RunwayError(f"expected a list of vectors (a 2-D array), got an array of shape {matrix.shape}")
    return matrix


def is_vector_column(values: Sequence[Any]) -> bool:
    """Whether ``values`` are equal-length (>= 2) lists of numbers: something worth projecting."""
    if not len(values):
        return False
    first = values[0]
    if not isinstance(first, (list, tuple, np.ndarray)) or len(first) < 2:
        return False
    width = len(first)
    for value in values[:50]:
        if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != width:
            return False
        if not all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in value[:8]):
            return False
    return True


def check_method(method: str) -> None:
    """Raise a RunwayError now when ``method`` is unknown or its library is missing (before any work)."""
    if method not in METHODS:
        raise RunwayError(
            f"unknown projection method '{method}'{did_you_mean(method, METHODS)}",
            hint=f"choose one of: {', '.join(METHODS)}",
        )
    import importlib.util

    module, package = {"tsne": ("openTSNE", "openTSNE"), "umap": ("umap", "umap-learn")}.get(method, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise RunwayError(
            f"the '{method}' projection needs the package {package}, which is not installed",
            hint=f"pip install {package} (or use --method pca)",
        )


def project_2d(vectors: Any, method: str = "tsne", *, seed: int = 0, n_jobs: int | None = None) -> np.ndarray:
    """Project ``[N, D]`` vectors to ``[N, 2]`` with ``method`` (``tsne``, ``pca`` or ``umap``).

    Deterministic for a given ``seed``. Fewer than a handful of points (or ``D < 2``) fall back to
    PCA, which is defined for any input.
    """
    check_method(method)
    matrix = as_matrix(vectors)
    if len(matrix) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if not np.isfinite(matrix).all():
        raise RunwayError("cannot project vectors that contain NaN or infinity", hint="check the model's outputs")
    if method == "pca" or len(matrix) < _MIN_TSNE_POINTS or matrix.shape[1] < 2:
        return _pca(matrix)
    # Threads pay off on thousands of points; on a few hundred their start-up (and a busy machine's
    # contention) costs more than the work.
    jobs = n_jobs or (_cpus() if len(matrix) >= _MIN_PARALLEL_POINTS else 1)
    if method == "tsne":
        return _tsne(matrix, seed, jobs)
    return _umap(matrix, seed, jobs)


def _cpus() -> int:
    """Idle cores (at most 8): on a machine shared with other jobs, extra threads only wait for CPU."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]  # this process counts as about one
    except OSError:
        busy = 1.0
    return max(1, min(8, int(cores + 1 - busy)))


def _pca(matrix: np.ndarray) -> np.ndarray:
    centred = matrix.astype(np.float64) - matrix.mean(axis=0, dtype=np.float64)
    if matrix.shape[1] == 1:
        return np.hstack([centred, np.zeros_like(centred)]).astype(np.float32)
    # Eigenvectors of the D x D covariance: cheap for many rows of moderate width.
    if matrix.shape[1] <= len(matrix):
        _, vecs = np.linalg.eigh(centred.T @ centred)
        components = vecs[:, ::-1][:, :2]
    else:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[:2].T
    if components.shape[1] < 2:
        components = np.hstack([components, np.zeros((components.shape[0], 1))])
    # Fix each component's sign so the picture does not flip between runs or libraries.
    signs = np.sign(components[np.abs(components).argmax(axis=0), range(components.shape[1])])
    signs[signs == 0] = 1
    return (centred @ (components * signs)).astype(np.float32)


def _tsne(matrix: np.ndarray, seed: int, jobs: int) -> np.ndarray:
    try:
        from openTSNE import TSNE
    except ImportError as exc:  # a dependency of runway_for_ml; missing only in a broken install
        raise RunwayError(
            "the 'tsne' projection needs openTSNE, which is not installed",
            hint="pip install openTSNE (or use --method pca)",
        ) from exc
    perplexity = float(min(30.0, (len(matrix) - 1) / 3))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        # PCA initialisation keeps the global layout stable between runs and sizes.
        initialization="pca",
        # Exact neighbours are cheaper than building an Annoy index up to ~10k points.
        neighbors="exact" if len(matrix) <= _EXACT_NEIGHBOURS_POINTS else "auto",
        # FFT-interpolated repulsion: linear in the points, ~2x faster than Barnes-Hut at 5k points;
        # its grid's fixed cost makes Barnes-Hut the faster one below a few thousand.
        negative_gradient_method="fft" if len(matrix) >= _FFT_POINTS else "bh",
        n_iter=_TSNE_ITERATIONS,
        random_state=seed,
        n_jobs=jobs,
        verbose=False,
    )
    return np.asarray(tsne.fit(matrix), dtype=np.float32)


def _umap(matrix: np.ndarray, seed: int, jobs: int) -> np.ndarray:
    try:
        import umap
    except ImportError as exc:
        raise RunwayError(
            "the 'umap' projection needs the optional package umap-learn, which is not installed",
            hint="pip install umap-learn (or use --method tsne / pca)",
        ) from exc
    reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(matrix) - 1))
    return np.asarray(reducer.fit_transform(matrix), dtype=np.float32)
