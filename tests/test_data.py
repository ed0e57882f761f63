"""backlit.lab.data: the seeded 2-D datasets, the split and the feature maps."""

import numpy as np
import pytest
import torch

import backlit
from backlit.lab import data

CLASSIFICATION = [name for name, s in data.DATASETS.items() if s.kind != "regression"]
BINARY = [name for name, s in data.DATASETS.items() if s.kind == "binary"]
MULTICLASS = [name for name, s in data.DATASETS.items() if s.kind == "multiclass"]
REGRESSION = [name for name, s in data.DATASETS.items() if s.kind == "regression"]


def test_registry_lists_every_dataset_from_the_contract():
    assert BINARY == ["circle", "xor", "gauss", "spiral", "moons"]
    assert MULTICLASS == ["blobs", "spiral_multi"]
    assert REGRESSION == ["plane", "multi_gauss"]
    for name, spec in data.DATASETS.items():
        assert spec.name == name
        assert spec.label and spec.description and callable(spec.fn)


# ---------------------------------------------------------------------------------------------- shape


@pytest.mark.parametrize("name", list(data.DATASETS))
@pytest.mark.parametrize("n", [7, 200])
def test_shape_and_dtype(name, n):
    ds = data.make(name, n=n, noise=0.1, seed=4)
    assert ds.X.shape == (n, 2) and ds.X.dtype == np.float64
    assert ds.y.shape == (n,)
    assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
    assert ds.kind == data.DATASETS[name].kind
    if ds.kind == "regression":
        assert ds.y.dtype == np.float64 and ds.classes is None
    else:
        assert ds.y.dtype == np.int64


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_clean_points_stay_on_the_plane(name):
    # With noise 0 every set fits the playground's [-6, 6] square.
    ds = data.make(name, n=1000, noise=0.0, seed=0)
    assert np.abs(ds.X).max() <= 6.0


# ------------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize("name", BINARY)
def test_binary_labels_are_0_and_1_and_roughly_balanced(name):
    ds = data.make(name, n=400, noise=0.0, seed=1)
    assert ds.classes == 2
    assert set(np.unique(ds.y)) == {0, 1}
    assert 0.35 < ds.y.mean() < 0.65


@pytest.mark.parametrize("name", MULTICLASS)
@pytest.mark.parametrize("k", [3, 4, 5])
def test_multiclass_labels_cover_every_class_equally(name, k):
    ds = data.make(name, n=301, noise=0.0, seed=2, classes=k)
    assert ds.classes == k
    counts = np.bincount(ds.y)
    assert len(counts) == k and counts.max() - counts.min() <= 1


@pytest.mark.parametrize("name", MULTICLASS)
def test_multiclass_defaults_to_three_classes(name):
    assert data.make(name, n=30).classes == 3


def test_regression_targets_are_in_the_playground_range():
    assert np.abs(data.make("plane", n=500).y).max() <= 1.2
    y = data.make("multi_gauss", n=500).y
    assert np.abs(y).max() <= 1.0 and (y > 0.5).any() and (y < -0.5).any()


# -------------------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", list(data.DATASETS))
def test_same_seed_same_numbers_other_seed_other_numbers(name):
    a = data.make(name, n=100, noise=0.2, seed=11)
    b = data.make(name, n=100, noise=0.2, seed=11)
    c = data.make(name, n=100, noise=0.2, seed=12)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)


# ------------------------------------------------------------------------------------ noise semantics


def _radius(X):
    return np.hypot(X[:, 0], X[:, 1])


def test_circle_noise_zero_labels_follow_the_radius():
    ds = data.make("circle", n=1000, noise=0.0, seed=0)
    r = _radius(ds.X)
    np.testing.assert_array_equal(ds.y, (r < 2.5).astype(int))
    # the gap between the disc (r < 2.5) and the ring (3.5 <= r <= 5) is empty
    assert not ((r >= 2.5) & (r < 3.5)).any() and r.max() <= 5.0


def test_xor_noise_zero_labels_follow_the_quadrant():
    ds = data.make("xor", n=1000, noise=0.0, seed=0)
    np.testing.assert_array_equal(ds.y, (ds.X[:, 0] * ds.X[:, 1] >= 0).astype(int))
    assert np.abs(ds.X).min() >= 0.3  # padding away from the axes


@pytest.mark.parametrize(
    "name, rule",
    [
        ("circle", lambda X: (_radius(X) < 2.5).astype(int)),
        ("xor", lambda X: (X[:, 0] * X[:, 1] >= 0).astype(int)),
    ],
)
def test_circle_and_xor_noise_flips_labels_not_points(name, rule):
    # As in TF Playground, noise moves the point used to decide the label; the drawn point is clean.
    wrong = []
    for noise in (0.0, 0.1, 0.3, 0.5):
        ds = data.make(name, n=2000, noise=noise, seed=5)
        np.testing.assert_array_equal(ds.X, data.make(name, n=2000, noise=0.0, seed=5).X)
        wrong.append(np.mean(ds.y != rule(ds.X)))
    assert wrong[0] == 0.0
    assert wrong[1] > 0.0
    assert wrong == sorted(wrong) and wrong[3] > wrong[1] + 0.05


@pytest.mark.parametrize("name", ["gauss", "blobs"])
def test_gaussian_clusters_widen_with_noise(name):
    # TF Playground maps noise 0..0.5 to a variance of 0.5..4; the same seed draws the same standard
    # normals, so each point moves away from its cluster centre by exactly sqrt(var ratio).
    clean = data.make(name, n=600, noise=0.0, seed=3)
    noisy = data.make(name, n=600, noise=0.5, seed=3)
    np.testing.assert_array_equal(clean.y, noisy.y)
    centres = np.array([clean.X[clean.y == c].mean(0) for c in range(clean.classes)])
    spread = [np.linalg.norm(ds.X - centres[ds.y], axis=1).mean() for ds in (clean, noisy)]
    assert spread[1] / spread[0] == pytest.approx(np.sqrt(4 / 0.5), rel=0.05)
    if name == "gauss":
        c1 = clean.X[clean.y == 1]
        np.testing.assert_allclose(c1.mean(0), [2, 2], atol=0.15)
        np.testing.assert_allclose(c1.std(0), np.sqrt(0.5), rtol=0.15)


@pytest.mark.parametrize("name", ["spiral", "spiral_multi"])
def test_spiral_noise_jitters_points_by_at_most_noise(name):
    clean = data.make(name, n=400, noise=0.0, seed=8)
    r = _radius(clean.X)
    assert r.max() < 5.0
    moves = []
    for noise in (0.1, 0.5):
        ds = data.make(name, n=400, noise=noise, seed=8)
        d = np.abs(ds.X - clean.X)
        assert d.max() <= noise
        moves.append(d.mean())
    assert 0 < moves[0] < moves[1]


def test_spiral_clean_points_lie_on_tf_playground_arms():
    # Positive arm: r = 5 i/m, t = 1.75 * 2 pi i/m, point (r sin t, r cos t); the other arm is t + pi.
    ds = data.make("spiral", n=200, noise=0.0, seed=0)
    i = np.arange(100)
    r, t = i / 100 * 5, 1.75 * i / 100 * 2 * np.pi
    arm = np.stack([r * np.sin(t), r * np.cos(t)], 1)
    for label, pts in [(1, arm), (0, -arm)]:
        got = ds.X[ds.y == label]
        np.testing.assert_allclose(got[np.lexsort(got.T)], pts[np.lexsort(pts.T)], atol=1e-12)


def test_moons_noise_is_gaussian_jitter():
    clean = data.make("moons", n=1000, noise=0.0, seed=6)
    noisy = data.make("moons", n=1000, noise=0.25, seed=6)
    assert (noisy.X - clean.X).std() == pytest.approx(2 * 0.25, rel=0.1)


def _tf_multi_gauss(X):
    # TF Playground's regressGaussian, written out point by point
    bumps = [(-4, 2.5, 1), (0, 2.5, -1), (4, 2.5, 1), (-4, -2.5, -1), (0, -2.5, 1), (4, -2.5, -1)]
    out = []
    for x, y in X:
        label = 0.0
        for cx, cy, sign in bumps:
            v = sign * min(max(1 - np.hypot(x - cx, y - cy) / 2, 0), 1)
            if abs(v) > abs(label):
                label = v
        out.append(label)
    return np.array(out)


def test_regression_noise_zero_is_the_exact_target():
    plane = data.make("plane", n=300, noise=0.0, seed=1)
    np.testing.assert_allclose(plane.y, plane.X.sum(1) / 10)
    noisy = data.make("plane", n=300, noise=0.3, seed=1)
    assert np.abs(noisy.y - noisy.X.sum(1) / 10).mean() > 0.05
    mg = data.make("multi_gauss", n=300, noise=0.0, seed=1)
    np.testing.assert_allclose(mg.y, _tf_multi_gauss(mg.X))
    noisy = data.make("multi_gauss", n=300, noise=0.3, seed=1)
    np.testing.assert_array_equal(noisy.X, mg.X)  # noise moves where the target is read, not the point
    assert np.abs(noisy.y - _tf_multi_gauss(noisy.X)).mean() > 0.05
    # the bump at (-4, 2.5) has height +1 and falls linearly to 0 at distance 2
    d = np.hypot(mg.X[:, 0] + 4, mg.X[:, 1] - 2.5)
    near = d < 1.0
    np.testing.assert_allclose(mg.y[near], 1 - d[near] / 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="nope"),
        dict(name="circle", noise=-0.1),
        dict(name="circle", noise=0.7),
        dict(name="circle", noise=float("nan")),
        dict(name="blobs", classes=2),
        dict(name="spiral_multi", classes=6),
        dict(name="circle", n=1),
    ],
)
def test_bad_arguments_raise_one_line_value_errors(kwargs):
    with pytest.raises(ValueError) as err:
        data.make(**kwargs)
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------- split


@pytest.mark.parametrize("ratio", [0.1, 0.5, 0.8])
def test_split_ratio_and_partition(ratio):
    ds = data.make("circle", n=201, seed=1)
    Xtr, ytr, Xte, yte = data.split(ds, train_ratio=ratio, seed=2)
    assert len(Xtr) == round(201 * ratio) and len(Xtr) + len(Xte) == 201
    assert len(ytr) == len(Xtr) and len(yte) == len(Xte)
    both = np.concatenate([Xtr, Xte])
    np.testing.assert_array_equal(both[np.lexsort(both.T)], ds.X[np.lexsort(ds.X.T)])
    # labels travel with their points
    rows = {tuple(x): y for x, y in zip(ds.X, ds.y)}
    assert all(rows[tuple(x)] == y for x, y in zip(np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte])))


def test_split_accepts_arrays_and_is_seeded():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    a = data.split(X, y, train_ratio=0.5, seed=3)
    b = data.split(X, y, train_ratio=0.5, seed=3)
    c = data.split(X, y, train_ratio=0.5, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(ValueError):
        data.split(X, y, train_ratio=1.0)
    with pytest.raises(ValueError):
        data.split(X, y[:5])


# ---------------------------------------------------------------------------------------- features


def test_feature_names_and_labels():
    assert list(data.FEATURES) == ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
    assert data.FEATURES["x1^2"].label == "X₁²"


def test_featurize_numpy_values_and_order():
    X = np.array([[1.0, 2.0], [-3.0, 0.5]])
    got = data.featurize(X, ["sin_x2", "x1x2", "x1", "x2^2"])
    want = np.stack([np.sin(X[:, 1]), X[:, 0] * X[:, 1], X[:, 0], X[:, 1] ** 2], 1)
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(data.featurize(X), X)  # default: x1, x2
    np.testing.assert_allclose(data.featurize(X[1], ["x1^2", "sin_x1"]), [9.0, np.sin(-3.0)])


def test_feature_names_from_a_command_line_string():
    assert data.check_features("x1, x2,sin_x1") == ["x1", "x2", "sin_x1"]


@pytest.mark.parametrize("names", [[], ["x3"], ["x1", "x1"], "x1,cos_x1"])
def test_featurize_rejects_bad_names(names):
    with pytest.raises(ValueError):
        data.featurize(np.zeros((2, 2)), names)


def _torch_features(X, names):
    x1, x2 = X[:, 0:1], X[:, 1:2]
    table = {"x1": x1, "x2": x2, "x1^2": x1 * x1, "x2^2": x2 * x2, "x1x2": x1 * x2,
             "sin_x1": torch.sin(x1), "sin_x2": torch.sin(x2)}
    return torch.cat([table[n] for n in names], 1)


@pytest.mark.parametrize("names", [list(data.FEATURES), ["x1^2", "x1x2"], ["sin_x2"]])
def test_featurize_tensor_agrees_with_numpy_and_its_gradient_reaches_the_raw_point(names):
    rng = np.random.default_rng(0)
    X = rng.uniform(-6, 6, (5, 2))
    W = rng.normal(size=(len(names), 3))

    xt = backlit.tensor(X, requires_grad=True)
    F = data.featurize(xt, names)
    assert isinstance(F, backlit.Tensor)
    np.testing.assert_allclose(F.data, data.featurize(X, names), rtol=0, atol=1e-15)
    (F @ backlit.tensor(W)).tanh().sum().backward()

    xr = torch.tensor(X, requires_grad=True)
    (_torch_features(xr, names) @ torch.tensor(W)).tanh().sum().backward()
    np.testing.assert_allclose(xt.grad, xr.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_featurize_single_point_tensor():
    x = backlit.tensor(np.array([0.5, -2.0]), requires_grad=True)
    f = data.featurize(x, ["x1^2", "x1x2", "sin_x2"])
    assert f.shape == (3,)
    f.sum().backward()
    # d/dx1 (x1^2 + x1 x2) = 2 x1 + x2 ; d/dx2 (x1 x2 + sin x2) = x1 + cos x2
    np.testing.assert_allclose(x.grad, [2 * 0.5 - 2.0, 0.5 + np.cos(-2.0)])
