"""The structure check of tree models: scikit-learn's own fits pass, crafted tree arrays are refused before anything runs.

A bundle made only of default-trusted types with correct hashes can still hold tree arrays that
send scikit-learn's compiled loops out of bounds or round in circles (mlci.modeling.trees).
"""

from __future__ import annotations

import re

import numpy as np
import pytest


def _fitted(kind: str):
    from sklearn import ensemble, multioutput, pipeline, preprocessing, tree
    from sklearn.datasets import make_classification

    X, y = make_classification(300, 6, random_state=0)
    estimators = {
        "decision tree": tree.DecisionTreeClassifier(max_depth=4),
        "random forest": ensemble.RandomForestClassifier(5, max_depth=4, random_state=0),
        "gradient boosting": ensemble.GradientBoostingClassifier(n_estimators=5),
        "hist gradient boosting, categorical": ensemble.HistGradientBoostingClassifier(
            max_iter=5, categorical_features=[0]
        ),
        "isolation forest on half the features": ensemble.IsolationForest(n_estimators=5, max_features=0.5),
        "bagging on half the features": ensemble.BaggingClassifier(tree.DecisionTreeClassifier(), 5, max_features=0.5),
        "stacking with passthrough": ensemble.StackingClassifier(
            [("t", tree.DecisionTreeClassifier())], final_estimator=tree.DecisionTreeClassifier(), passthrough=True
        ),
        "classifier chain": multioutput.ClassifierChain(tree.DecisionTreeClassifier()),
        "forest after polynomial features": pipeline.Pipeline(
            [("poly", preprocessing.PolynomialFeatures(2)), ("m", ensemble.RandomForestClassifier(3))]
        ),
    }
    if "categorical" in kind:
        X[:, 0] = np.abs(X[:, 0] * 3).astype(int)
    target = np.c_[y, 1 - y] if kind == "classifier chain" else y
    return estimators[kind].fit(X, target)


@pytest.mark.parametrize(
    "kind",
    [
        "decision tree",
        "random forest",
        "gradient boosting",
        "hist gradient boosting, categorical",
        "isolation forest on half the features",
        "bagging on half the features",
        "stacking with passthrough",
        "classifier chain",
        "forest after polynomial features",
    ],
)
def test_tree_models_scikit_learn_fits_pass_the_structure_check(kind):
    import skops.io as sio

    from mlci.modeling.trees import check_trees

    data = sio.dumps(_fitted(kind))
    check_trees(sio.loads(data, trusted=sio.get_untrusted_types(data=data)), "version x")


def _edit_predictor(model, **fields):
    nodes = model._predictors[0][0].nodes
    internal = int(np.flatnonzero(nodes["is_leaf"] == 0)[-1])
    for field, value in fields.items():
        nodes[field][internal] = value(internal) if callable(value) else value
    return internal


def _edit_tree(model, **fields):
    from sklearn.tree._tree import Tree

    state = model.tree_.__getstate__()
    state["nodes"] = state["nodes"].copy()
    for field, value in fields.items():
        state["nodes"][field][0] = value
    crafted = Tree(model.tree_.n_features, model.tree_.n_classes, model.tree_.n_outputs)
    crafted.__setstate__(state)
    model.tree_ = crafted


@pytest.mark.parametrize(
    ("kind", "edit", "problem"),
    [
        ("hist gradient boosting, categorical", lambda m: _edit_predictor(m, right=lambda i: i - 1), "right child is"),
        (
            "hist gradient boosting, categorical",
            lambda m: _edit_predictor(m, feature_idx=6),
            "splits on feature 6, but the rows have 6",
        ),
        (
            "hist gradient boosting, categorical",
            lambda m: _edit_predictor(m, feature_idx=1, is_categorical=1, bitset_idx=0),
            "splits feature 1 by category, which is not categorical",
        ),
        (
            "hist gradient boosting, categorical",
            lambda m: _edit_predictor(m, feature_idx=0, is_categorical=1, bitset_idx=99),
            "uses bitset 99 of",
        ),
        ("decision tree", lambda m: _edit_tree(m, feature=-3), "splits on feature -3"),
        ("decision tree", lambda m: _edit_tree(m, right_child=1), "a node is the child of two nodes"),
        # A forest validates its rows itself and hands them to its trees unchecked: a member that
        # claims more features than the forest has is bounded by the forest.
        ("random forest", lambda m: setattr(m.estimators_[0], "n_features_in_", 10**6) or _edit_tree(
            m.estimators_[0], feature=1000), "splits on feature 1000, but the rows have 6"),
        ("random forest", lambda m: delattr(m, "n_features_in_"), "holds trees but no valid n_features_in_"),
    ],
)  # fmt: skip
def test_crafted_tree_arrays_are_refused_before_anything_runs(kind, edit, problem):
    from mlci.modeling.trees import InvalidTree, check_trees

    model = _fitted(kind)
    edit(model)
    with pytest.raises(InvalidTree, match=re.escape(problem)):
        check_trees(model, "version x")
