"""SG-URInit's tables for the default and every published form stay those of ``reference_tables.npz``
(written by ``make_reference_tables.py``): LightGCN, VBPR and GRCN on a small generated data set, each
fragment of ``configs/sgurinit/`` as a user composes it.

The tolerance is ``atol=1e-6`` rather than exact equality: K-Means and PCA sum in an order that depends on the
CPU's vector width and the thread count, so other machines differ in the last bits."""

import numpy as np
import pytest
import torch
from init.make_reference_tables import SPEC, tables

from lit_mmrec.data.synthetic import generate_synthetic

REFERENCE = np.load(__file__.replace("test_reference_tables.py", "reference_tables.npz"))


@pytest.fixture(scope="module")
def current(tmp_path_factory):
    return tables(generate_synthetic(SPEC, tmp_path_factory.mktemp("reference") / "data"))


def test_every_fragment_and_backbone_gives_the_reference_tables(current):
    assert sorted(current) == sorted(REFERENCE.files)
    for key in REFERENCE.files:
        torch.testing.assert_close(torch.from_numpy(current[key]), torch.from_numpy(REFERENCE[key]), atol=1e-6,
                                   rtol=0, msg=lambda message, key=key: f"{key}: {message}")


def test_the_default_centres_the_feature_space_tables_only(current):
    # ID tables (LightGCN's, VBPR's and GRCN's user_embedding) are item-sum's; the tables that meet item
    # features are not
    for key in current:
        form, backbone, table = key.split("/")
        if form == "default":
            same = np.array_equal(current[key], current[f"item-sum/{backbone}/{table}"])
            assert same == (table == "user_embedding"), key
