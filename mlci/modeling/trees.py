"""Check the node arrays of scikit-learn's tree models before anything predicts with them.

scikit-learn's compiled predict loops (`Tree.apply`, HistGradientBoosting's
`_predict_from_raw_data`) follow each node's child and feature indices without bounds checks,
and stop only at a leaf. A model file holds those arrays as plain data, so one made only of
trusted types can still name a child 2**31-1 nodes away (a read far outside the array: SIGSEGV),
a feature past the row's end, or a node that is its own child (a loop in code that ignores
SIGTERM). Trusting a type says it may be *built*; this checks that what was built is a tree.
scikit-learn's own fix (PR #34558, "Harden tree loading mechanisms", open when this was written)
checks the same in `__setstate__`; mlci checks here until every supported release does, and
scores every model it did not train in a contained process (mlci.modeling.sandbox) in any case.

A valid tree, as scikit-learn builds it: every node is a leaf or has two children whose
indices are larger than its own and inside the node array, no node is the child of two nodes
(so the walk from the root visits each node at most once), and every split reads a feature
below the feature count the owning estimator checks its rows against.
"""

from __future__ import annotations

from typing import Any

from mlci.errors import ModelError

TREE = "sklearn.tree._tree.Tree"
TREE_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"
_TREE_LEAF = -1  # scikit-learn's TREE_LEAF: the child index of a leaf
# Attributes through which a scikit-learn ensemble hands its own, already validated rows to the
# trees it holds without validating them again (forests call predict with check_input=False;
# gradient boosting walks `estimator.tree_` directly): the ensemble's feature count bounds them.
_ENSEMBLE_MEMBERS = "estimators_"
_MAX_OBJECTS = 10_000_000  # a model file's object graph is finite; this bounds a pathological one


class InvalidTree(ModelError):
    """A tree model's node arrays would make scikit-learn read out of bounds or loop forever."""


def _name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def check_trees(model: Any, where: str) -> None:
    """Raise InvalidTree unless every Tree and TreePredictor reachable from `model` is a valid tree.

    `where` names the model in the message (its version and file). Walks the object graph skops
    built (containers, object arrays and instance attributes; no property or method of a loaded
    object is called, except the tree checks' own reads).
    """
    import numpy as np

    stack: list[tuple[Any, int | None, Any, str]] = [(model, None, None, "the model")]
    seen: set[int] = set()
    while stack:
        obj, bound, categorical, path = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        if len(seen) > _MAX_OBJECTS:
            raise InvalidTree(f"{where}: holds more than {_MAX_OBJECTS:,} objects; refusing to run it")
        name = _name(obj)
        if name == TREE:
            _check_tree(obj, bound, where, path)
            continue
        if name == TREE_PREDICTOR:
            _check_predictor(obj, bound, categorical, where, path)
            continue
        if isinstance(obj, dict):
            stack += [(v, None, None, f"{path}[{k!r}]") for k, v in obj.items()]
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += [(v, bound, categorical, f"{path}[{i}]") for i, v in enumerate(obj)]
        elif isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                stack += [(v, bound, categorical, f"{path}[{i}]") for i, v in enumerate(obj.flat)]
        elif isinstance(getattr(obj, "__dict__", None), dict):
            stack += _members(obj, vars(obj), bound, path, where)


def _members(
    obj: Any, attrs: dict[str, Any], bound: int | None, path: str, where: str
) -> list[tuple[Any, int | None, Any, str]]:
    """Return the (value, bound, categorical mask, path) of each attribute of an instance to walk."""
    features = attrs.get("n_features_in_")
    own = features if isinstance(features, int) and not isinstance(features, bool) else None
    label = f"{path} ({type(obj).__name__})"
    out: list[tuple[Any, int | None, Any, str]] = []
    for key, value in attrs.items():
        at = f"{label}.{key}"
        if key == "tree_":
            # The estimator validates its rows against n_features_in_, unless an ensemble above
            # it passed rows it validated itself: both bound the tree.
            out.append((value, _require(own, label, where, min_of=bound), None, at))
        elif key == _ENSEMBLE_MEMBERS and type(obj).__module__.startswith("sklearn.ensemble."):
            if isinstance(getattr(type(obj), "n_features_in_", None), property):
                # Voting and stacking ask their first member for the count: each member validates
                # its own rows, so nothing here narrows them.
                out.append((value, bound, None, at))
            else:
                out.append((value, _require(own, label, where, min_of=bound), None, at))
        elif key == "_predictors":
            limit = _require(own, label, where)
            mapper = attrs.get("_bin_mapper")
            categorical = getattr(mapper, "is_categorical_", None)
            categorical = _categorical_mask(categorical, label, where)
            if categorical is not None:
                limit = min(limit, len(categorical))
            out.append((value, limit, categorical, at))
        else:
            out.append((value, None, None, at))
    return out


def _require(features: int | None, label: str, where: str, *, min_of: int | None = None) -> int:
    if features is None or features < 0:
        raise InvalidTree(
            f"{where}: {label} holds trees but no valid n_features_in_, so nothing bounds the features "
            "they read; refusing to run it"
        )
    return features if min_of is None else min(features, min_of)


def _categorical_mask(value: Any, label: str, where: str) -> Any:
    import numpy as np

    if value is None:
        return None
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "biu":
        raise InvalidTree(f"{where}: {label}._bin_mapper.is_categorical_ is not a 1-d integer array")
    return value.astype(bool)


def _refuse(where: str, path: str, problem: str) -> InvalidTree:
    return InvalidTree(
        f"{where}: {path} is not a valid tree: {problem}; the model file is corrupt or was crafted "
        "to crash or hang scikit-learn — refusing to run it"
    )


def _check_structure(left: Any, right: Any, internal: Any, where: str, path: str) -> None:
    """Check that each internal node's two children are later nodes of the array, none shared."""
    import numpy as np

    n = len(left)
    index = np.arange(n)
    for side, children in (("left", left), ("right", right)):
        bad = internal & ((children <= index) | (children >= n))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where_to = "itself or an earlier node" if 0 <= children[i] <= i else f"outside its {n} nodes"
            raise _refuse(where, path, f"node {i}'s {side} child is {int(children[i])}, {where_to}")
    both = np.concatenate([left[internal], right[internal]])
    if len(np.unique(both)) != len(both):
        raise _refuse(where, path, "a node is the child of two nodes")


def _check_features(features: Any, internal: Any, bound: int | None, where: str, path: str) -> None:
    import numpy as np

    if bound is None:
        return
    bad = internal & ((features < 0) | (features >= bound))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _refuse(where, path, f"node {i} splits on feature {int(features[i])}, but the rows have {bound}")


def _check_tree(tree: Any, bound: int | None, where: str, path: str) -> None:
    """Check a `sklearn.tree._tree.Tree` (decision trees, forests, gradient boosting)."""
    import numpy as np

    count, capacity, own = tree.node_count, tree.capacity, tree.n_features
    # node_count comes from the file apart from the node array (capacity): the arrays scikit-learn
    # reads are node_count long, so it must not exceed what was allocated.
    if not 1 <= count <= capacity:
        raise _refuse(where, path, f"node_count {count} with {capacity} nodes stored")
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    leaf = left == _TREE_LEAF
    if (leaf & (right != _TREE_LEAF)).any():
        i = int(np.flatnonzero(leaf & (right != _TREE_LEAF))[0])
        raise _refuse(where, path, f"node {i} has no left child but a right child {int(right[i])}")
    internal = ~leaf
    _check_structure(left, right, internal, where, path)
    limit = own if bound is None else min(own, bound)
    _check_features(np.asarray(tree.feature, dtype=np.int64), internal, limit, where, path)


def _check_predictor(predictor: Any, bound: int | None, categorical: Any, where: str, path: str) -> None:
    """Check a HistGradientBoosting `TreePredictor` and its categorical bitsets."""
    import numpy as np

    nodes = vars(predictor).get("nodes")
    fields = ("is_leaf", "left", "right", "feature_idx", "is_categorical", "bitset_idx")
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or not all(f in (nodes.dtype.names or ()) for f in fields):
        raise _refuse(where, path, "its nodes are not a 1-d array of predictor records")
    if len(nodes) == 0:
        raise _refuse(where, path, "it has no nodes")
    internal = nodes["is_leaf"] == 0
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    _check_structure(left, right, internal, where, path)
    features = nodes["feature_idx"].astype(np.int64)
    _check_features(features, internal, bound, where, path)
    split = internal & (nodes["is_categorical"] != 0)
    if not split.any():
        return
    index = nodes["bitset_idx"].astype(np.int64)
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        bitsets = vars(predictor).get(name)
        # A bitset row holds 8 words of 32 bits: one bit per category value 0..255.
        if not isinstance(bitsets, np.ndarray) or bitsets.ndim != 2 or bitsets.shape[1] != 8:
            raise _refuse(where, path, f"{name} is not an (n, 8) array")
        bad = split & ((index < 0) | (index >= bitsets.shape[0]))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _refuse(where, path, f"node {i} uses bitset {int(index[i])} of {bitsets.shape[0]}")
    if categorical is None:
        if bound is not None:  # an estimator's predictor: the estimator must say which features are categories
            raise _refuse(where, path, "it has categorical splits but its estimator lists no categorical features")
        return
    inside = features[split]
    if not categorical[inside].all():
        i = int(np.flatnonzero(split)[int(np.flatnonzero(~categorical[inside])[0])])
        raise _refuse(where, path, f"node {i} splits feature {int(features[i])} by category, which is not categorical")
