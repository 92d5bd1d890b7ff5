"""Shared by the SG-URInit tests: one intra-op thread."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    # The matrices here are tiny: intra-op threads only add synchronisation, which costs seconds when the
    # machine is busy with other jobs. Restored afterwards.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
