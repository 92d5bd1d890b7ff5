"""MMRec's own code and the authors' code of COHESION and MMSSL side by side with ours on ml100k (SMORE, PGL,
DA-MRS, LayerGCN, COHESION, MMSSL): same split, hyperparameters and stopping rule; test Recall@20 / NDCG@20, seconds per training epoch and
per evaluation. Run from the repository root (``docs/results/mmrec_side_by_side/README.md`` has the exact
commands):

    python -m studies.mmrec_side_by_side original --models layergcn   # MMRec's code, seed 999
    python -m lit_mmrec.experiments table ... -- --trainer.callbacks+=studies.mmrec_side_by_side.PhaseTimer
    python -m studies.mmrec_side_by_side report                       # README table, runs.json

``original`` exports the model's original code (:data:`MIRRORS`: MMRec, or the authors' MMRec-based repository)
from its git mirror into ``runs/original/<model>/mmrec`` (ignored by git), applies
:data:`PATCHES` (exact string edits, each checked to match), writes a data set config for ``data/ml100k`` and the
model's config with the values of ``configs/ml100k/<model>.yaml`` (:data:`HYPERPARAMETERS`) and runs
``src/main.py`` on the CPU with one thread. MMSSL's repository is not MMRec-based: :func:`run_mmssl` exports its
``MMSSL`` folder into ``runs/original/mmssl``, writes our split in its format (:func:`write_mmssl_data`), passes
:data:`MMSSL_ARGS` on its command line and :func:`parse_mmssl_log` reads its log. ``PhaseTimer`` is the callback that gives our runs the same two
timings MMRec's trainer logs: training seconds per epoch and validation seconds per evaluation.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import lightning as L

MIRROR = Path("/work/.mirror/enoche+MMRec/repo")
#: the authors' repository of COHESION (MMRec-based: MMRec's trainer, data loader and log lines, its ``utils``
#: package renamed ``utils_package``)
COHESION_MIRROR = Path("/work/.mirror/Jinfeng-Xu+COHESION/repo")
#: the authors' repository of MMSSL (its own code, data format and evaluation; not MMRec-based)
MMSSL_MIRROR = Path("/work/.mirror/HKUDS+MMSSL/repo")
OUT = Path("docs/results/mmrec_side_by_side")
RUNS = OUT / "runs"
OURS = RUNS / "ours"
MODELS = ("layergcn", "smore", "pgl", "damrs", "cohesion", "mmssl")
#: the git mirror of each model's original code: MMRec's unless listed in :data:`OWN_REPOSITORIES`
OWN_REPOSITORIES = {"cohesion": ("Jinfeng-Xu/COHESION", COHESION_MIRROR), "mmssl": ("HKUDS/MMSSL", MMSSL_MIRROR)}
#: the folder of a repository that holds the model's code (exported and patched): MMRec's ``src`` unless listed
ROOTS = {"mmssl": "MMSSL"}
MIRRORS = {model: OWN_REPOSITORIES.get(model, ("enoche/MMRec", MIRROR))[1] for model in MODELS}
#: the original code's model (class and config) names
MMREC_NAMES = {"layergcn": "LayerGCN", "smore": "SMORE", "pgl": "PGL", "damrs": "DAMRS", "cohesion": "COHESION",
               "mmssl": "MMSSL"}
#: the Python interpreter that runs MMRec (its venv: the system packages plus pandas and lmdb)
MMREC_PYTHON = Path("/work/mmrec-venv/bin/python")

#: MMRec's overall settings the side-by-side fixes (the rest of ``overall.yaml`` is MMRec's, e.g. Adam 1e-3,
#: batch 2048, 64-d embeddings): the CPU, seed 999, MMRec's stopping rule on Recall@20 evaluated every epoch.
SETTINGS: dict[str, Any] = {
    "use_gpu": False,
    "seed": [999],
    "epochs": 1000,
    "stopping_step": 20,
    "eval_step": 1,
    "valid_metric": "Recall@20",
    "metrics": ["Recall", "NDCG"],
    "topk": [20],
    "save_recommended_topk": False,
}

#: the data set config: MMRec's column names and file names of ``data/ml100k`` (our ``prepare`` writes MMRec's
#: format: ``userID itemID rating timestamp x_label``, ``text_feat.npy``; no image features)
DATASET: dict[str, Any] = {
    "USER_ID_FIELD": "userID",
    "ITEM_ID_FIELD": "itemID",
    "TIME_FIELD": "timestamp",
    "inter_file_name": "ml100k.inter",
    "vision_feature_file": "image_feat.npy",
    "text_feature_file": "text_feat.npy",
    "field_separator": "\t",
    "filter_out_cod_start_users": True,
}

#: models whose code needs image features and runs text-only with the text features read as the image ones too (a
#: setting, no code edit): DA-MRS's three item graphs (image, text, behaviour) become text, text, behaviour
IMAGE_AS_TEXT = ("damrs",)

#: data set config entries of one model: COHESION reads the user co-occurrence graph from a file (written by the
#: authors' ``preprocessing/dualgnn-gen-u-u-matrix.py``; here by :func:`write_user_graph_dict`)
MODEL_DATASET: dict[str, dict[str, Any]] = {"cohesion": {"user_graph_dict_file": "user_graph_dict.npy"}}

#: MMRec config values equal to ``configs/ml100k/<model>.yaml`` (MMRec's names; one value per grid parameter);
#: keys not listed keep the values of MMRec's ``configs/model/<Model>.yaml``.
HYPERPARAMETERS: dict[str, dict[str, Any]] = {
    "layergcn": {"embedding_size": 64, "n_layers": 4, "dropout": 0.1, "reg_weight": 1.0e-4,
                 "learning_rate": 1.0e-3},
    "smore": {"embedding_size": 64, "text_knn_k": 15, "image_knn_k": 15, "n_ui_layers": 4, "n_layers": 1,
              "cl_loss": 0.001, "temperature": 0.2, "dropout_rate": 0.1, "learning_rate_scheduler": [0.96, 50],
              "reg_weight": 1.0e-4, "learning_rate": 1.0e-3},
    "pgl": {"embedding_size": 64, "feat_embed_dim": 64, "mode": "local", "knn_k": 10, "n_mm_layers": 1,
            "n_ui_layers": 2, "dropout": 0.2, "reg_weight": 0.05, "learning_rate": 1.0e-3,
            "learning_rate_scheduler": [0.96, 50]},
    "damrs": {"embedding_size": 64, "knn_k": 10, "n_ui_layers": 2, "n_mm_layers": 1, "kl_weight": 1.0,
              "neighbor_weight": 1.0e-3, "learning_rate": 1.0e-3},
    "cohesion": {"embedding_size": 64, "feat_embed_dim": 64, "num_layer": 2, "dropout": 0.0, "knn_k": 10,
                 "n_mm_layers": 1, "mm_image_weight": 0.1, "reg_weight": 1.0e-3, "learning_rate": 1.0e-3},
}

def DOK_UPDATE(name: str) -> tuple[str, str, str, int, str]:
    """SciPy >= 1.12 keeps a ``dok_matrix``'s entries in ``_dict`` and has no ``_update`` (the same dict update)."""
    return (name, "A._update(data_dict)", "A._dict.update(data_dict)", 1,
            "SciPy >= 1.12: dok_matrix._update is gone; the same dict update on its _dict")


TEXT_ONLY = "text only"

SMORE_IMAGE_VIEW = """\
        #   Image-view
        if self.sparse:
            for i in range(self.n_layers):
                image_item_embeds = torch.sparse.mm(self.image_original_adj, image_item_embeds)
        else:
            for i in range(self.n_layers):
                image_item_embeds = torch.mm(self.image_original_adj, image_item_embeds)
        image_user_embeds = torch.sparse.mm(self.R, image_item_embeds)
        image_embeds = torch.cat([image_user_embeds, image_item_embeds], dim=0)
"""

PGL_CONCAT = """\
        image_feats, text_feats = F.normalize(image_feats), F.normalize(text_feats)
        user_embeds = torch.cat([self.user_image.weight, self.user_text.weight], dim=1)
        item_embeds = torch.cat([image_feats, text_feats], dim=1)
"""


COHESION_MM_ADJ = """\
            self.image_embedding = nn.Embedding.from_pretrained(self.v_feat, freeze=False)
            self.text_embedding = nn.Embedding.from_pretrained(self.t_feat, freeze=False)
            _, image_adj = self.get_knn_adj_mat(self.image_embedding.weight.detach())
            _, text_adj = self.get_knn_adj_mat(self.text_embedding.weight.detach())
            self.mm_adj = self.mm_image_weight * image_adj + (1.0 - self.mm_image_weight) * text_adj
            del text_adj
            del image_adj
"""

COHESION_ADAPTIVE = """\
        pos_score_ = torch.mul(user_e, pos_e).view(-1, 3, self.dim_latent).sum(dim=-1)
        neg_score_ = torch.mul(user_e, neg_e).view(-1, 3, self.dim_latent).sum(dim=-1)
        modality_indicator = 1 - (pos_score_ - neg_score_).softmax(-1).detach()

        adaptive_weight = torch.tile(modality_indicator.view(-1, 3, 1), [1, 1, self.dim_latent])
        adaptive_weight = adaptive_weight.view(-1, 3 * self.dim_latent)
"""


def guard(block: str) -> tuple[str, str]:
    """``block`` and ``block`` run only with image features (indented under ``if self.v_feat is not None:``)."""
    indented = "".join("    " + line if line.strip() else line for line in block.splitlines(keepends=True))
    return block, "        if self.v_feat is not None:\n" + indented


#: (file under src/, exact text, replacement, count, why): the edits to MMRec's code, applied to a fresh export
PATCHES: dict[str, list[tuple[str, str, str, int, str]]] = {
    "common": [
        ("utils/dataset.py",
         "from utils.data_utils import (ImageResize, ImagePad, image_to_tensor, load_decompress_img_from_lmdb_value)\n",
         "", 1,
         "drop an import used only for raw images (it needs torchvision, absent here); pre-extracted features only"),
        ("utils/metrics.py", "np.float)", "np.float64)", 4,
         "NumPy >= 1.24: the np.float alias is gone; np.float64 is what it meant"),
    ],
    "layergcn": [
        ("models/layergcn.py", "from models.common.", "from common.", 2,
         "import path: MMRec's models/ has no common/ package (the file fails to import as shipped)"),
        DOK_UPDATE("models/layergcn.py"),
    ],
    "smore": [
        ("utils/utils.py", "    from torch_scatter import scatter_add\n", "", 1,
         "torch_scatter is not installed here: torch's own scatter_add_ (the next edit), same sums"),
        ("utils/utils.py", "    deg = scatter_add(edge_weight, row, dim=0, dim_size=num_nodes)\n",
         "    deg = torch.zeros(num_nodes, dtype=edge_weight.dtype, device=edge_weight.device)"
         ".scatter_add_(0, row, edge_weight)\n", 1, "the degree sums of the edit above"),
        ("models/smore.py", "image_adj.cuda()", "image_adj.to(self.device)", 1, "CPU: no .cuda()"),
        ("models/smore.py", "text_adj.cuda()", "text_adj.to(self.device)", 1, "CPU: no .cuda()"),
        ("models/smore.py", "    def max_pool_fusion(self):\n",
         "    def max_pool_fusion(self):\n        if self.v_feat is None:\n"
         "            return self.text_original_adj.coalesce()\n", 1,
         TEXT_ONLY + ": the fusion graph is the text graph (the maximum over one graph)"),
        ("models/smore.py", "        if self.v_feat is not None:\n            image_feats = self.image_trs(",
         "        image_feats = None\n        if self.v_feat is not None:\n            image_feats = self.image_trs(", 1,
         TEXT_ONLY + ": no image projection"),
        ("models/smore.py", "        image_fft = torch.fft.rfft(image_embeds, dim=1, norm='ortho')",
         "        image_fft = torch.fft.rfft(image_embeds, dim=1, norm='ortho') if image_embeds is not None else 1.0",
         1, TEXT_ONLY + ": the fusion spectrum is the text spectrum alone (a product over one modality)"),
        ("models/smore.py", "image_complex_weight, n=image_embeds.shape[1]", "image_complex_weight, n=text_embeds.shape[1]",
         1, TEXT_ONLY + ": the (unused) image filter's length from the text features (both are embedding_size)"),
        ("models/smore.py", *guard(SMORE_IMAGE_VIEW), 1, TEXT_ONLY + ": no image item-item view"),
        ("models/smore.py", "        fusion_att_v, fusion_att_t = self.query_v(fusion_embeds), self.query_t(fusion_embeds)\n"
         "        fusion_soft_v = self.softmax(fusion_att_v)\n        agg_image_embeds = fusion_soft_v * image_embeds\n",
         "        fusion_att_t = self.query_t(fusion_embeds)\n        if self.v_feat is not None:\n"
         "            fusion_soft_v = self.softmax(self.query_v(fusion_embeds))\n"
         "            agg_image_embeds = fusion_soft_v * image_embeds\n", 1,
         TEXT_ONLY + ": no image attention"),
        ("models/smore.py", "        image_prefer = self.gate_image_prefer(content_embeds)\n", "", 1,
         TEXT_ONLY + ": no image preference gate (moved under the guard below)"),
        ("models/smore.py",
         "        image_prefer, text_prefer, fusion_prefer = self.dropout(image_prefer), self.dropout(text_prefer), "
         "self.dropout(fusion_prefer)\n\n        agg_image_embeds = torch.multiply(image_prefer, agg_image_embeds)\n",
         "        if self.v_feat is not None:\n"
         "            image_prefer = self.dropout(self.gate_image_prefer(content_embeds))\n"
         "            agg_image_embeds = torch.multiply(image_prefer, agg_image_embeds)\n"
         "        text_prefer, fusion_prefer = self.dropout(text_prefer), self.dropout(fusion_prefer)\n", 1,
         TEXT_ONLY + ": the image preference only with image features"),
        ("models/smore.py", "torch.stack([agg_image_embeds, agg_text_embeds, fusion_embeds])",
         "torch.stack(([agg_image_embeds] if self.v_feat is not None else []) + [agg_text_embeds, fusion_embeds])",
         1, TEXT_ONLY + ": side is the mean of the text and fusion views"),
    ],
    "pgl": [
        DOK_UPDATE("models/pgl.py"),
        ("models/pgl.py", "from sparsesvd import sparsesvd\n", "", 1,
         "sparsesvd (global mode only) does not build here: imported where global mode uses it"),
        ("models/pgl.py", "    def global_subgraph_extraction(self, adj):\n",
         "    def global_subgraph_extraction(self, adj):\n        from sparsesvd import sparsesvd\n", 1,
         "the import of the edit above"),
        ("models/pgl.py", PGL_CONCAT,
         "        if self.v_feat is None:\n"
         "            user_embeds, item_embeds = self.user_text.weight, F.normalize(text_feats)\n"
         "        else:\n" + "".join("    " + line for line in PGL_CONCAT.splitlines(keepends=True)), 1,
         TEXT_ONLY + ": users are the text user table, items the normalised text projection (no concatenation)"),
    ],
    "damrs": [
        DOK_UPDATE("models/damrs.py"),
        ("models/damrs.py", "dim=0).cuda()", "dim=0).to(self.device)", 3, "CPU: no .cuda()"),
    ],
    "cohesion": [
        ("utils_package/dataset.py",
         "from utils_package.data_utils import (ImageResize, ImagePad, image_to_tensor, "
         "load_decompress_img_from_lmdb_value)\n", "", 1,
         "drop an import used only for raw images (it needs torchvision, absent here); pre-extracted features only"),
        ("utils_package/metrics.py", "np.float)", "np.float64)", 4,
         "NumPy >= 1.24: the np.float alias is gone; np.float64 is what it meant"),
        ("models/cohesion.py", "import torch_sparse\n", "", 1,
         "torch_sparse is not installed here and the file does not use it"),
        DOK_UPDATE("models/cohesion.py"),
        ("models/cohesion.py",
         "        self.result_embed = nn.Parameter(\n"
         "            nn.init.xavier_normal_(torch.tensor(np.random.randn(self.n_nodes, self.dim)))\n"
         "        ).to(self.device)\n",
         "        self.result_embed = nn.init.xavier_normal_(\n"
         "            torch.tensor(np.random.randn(self.n_nodes, self.dim))).to(self.device)\n", 1,
         "CPU: on the GPU `.to(device)` turns the initial Parameter into a plain tensor, which forward then replaces; "
         "on the CPU it stays a registered Parameter and the replacement raises a TypeError: a plain tensor as on "
         "the GPU"),
        ("models/cohesion.py", COHESION_MM_ADJ,
         "            if self.v_feat is not None:\n"
         "                self.image_embedding = nn.Embedding.from_pretrained(self.v_feat, freeze=False)\n"
         "            self.text_embedding = nn.Embedding.from_pretrained(self.t_feat, freeze=False)\n"
         "            self.mm_adj = self.generate_mm_adj()\n", 1,
         TEXT_ONLY + ": the item graph is the text kNN graph (the file's own generate_mm_adj, which takes the "
         "modalities present; with both it mixes them as the replaced lines do)"),
        ("models/cohesion.py", "(id_rep_data, self.t_rep) if representation is None",
         "(id_rep_data, self.t_rep) if self.v_feat is None", 1,
         TEXT_ONLY + ": the ID and text branches concatenated (the test `representation is None` never holds: "
         "it starts as the ID branch)"),
        ("models/cohesion.py", "        self.v_rep = torch.unsqueeze(self.v_rep, 2)\n",
         "        if self.v_rep is not None:\n            self.v_rep = torch.unsqueeze(self.v_rep, 2)\n", 1,
         TEXT_ONLY + ": no image branch to reshape"),
        ("models/cohesion.py", "        if self.v_rep is not None and self.t_rep is not None:\n",
         "        if self.v_rep is None:\n"
         "            user_rep = torch.cat((id_rep_data[:self.n_users, :, 0], self.t_rep[:self.n_users, :, 0]), dim=1)\n"
         "        if self.v_rep is not None and self.t_rep is not None:\n", 1,
         TEXT_ONLY + ": users are the ID and text branches concatenated, as with both modalities"),
        ("models/cohesion.py", COHESION_ADAPTIVE,
         "        n = user_e.shape[1] // self.dim_latent\n"
         + COHESION_ADAPTIVE.replace(", 3,", ", n,").replace("3 *", "n *"), 1,
         TEXT_ONLY + ": the modality-adaptive weights over the branches present (2: ID, text), not a fixed 3"),
    ],
    "mmssl": [
        ("main.py", "import dgl\n", "", 1,
         "dgl is not installed here; main.py uses it only in sample_topk and sampleTrainBatch_dgl, which train "
         "never calls"),
        ("main.py", "import  visdom\n", "", 1, "visdom is not installed here and main.py does not use it"),
        ("main.py", "from torch.utils.tensorboard import SummaryWriter\n", "", 1,
         "tensorboard is not installed here and main.py does not use SummaryWriter (its use is commented out)"),
        ("main.py", "alpha = torch.rand(args.batch_size*2, 1).cuda()", "alpha = torch.rand(xr.shape[0], 1)", 1,
         TEXT_ONLY + ": the gradient penalty's mixing weights, one per row of the real/fake stacks (one "
         "modality's rows, not two modalities'); CPU: no .cuda()"),
        ("main.py", "                image_u_sim_detach = self.u_sim_calculation(users, image_user_embeds, "
         "image_item_embeds).detach()\n", "", 1, TEXT_ONLY + ": no image relation rows for the discriminator"),
        ("main.py", "inputf = torch.cat((image_u_sim_detach, text_u_sim_detach), dim=0)", "inputf = text_u_sim_detach",
         1, TEXT_ONLY + ": the discriminator's fake rows are the text rows"),
        ("main.py", "inputr = torch.cat((u_ui, u_ui), dim=0)", "inputr = u_ui", 1,
         TEXT_ONLY + ": the real rows once, matching the one modality's fake rows"),
        ("main.py", "G_inputf = torch.cat((G_image_u_sim, G_text_u_sim), dim=0)", "G_inputf = G_text_u_sim", 1,
         TEXT_ONLY + ": the generator's adversarial term on the text rows"),
        ("main.py", "1./2*(g_item_image**2).sum() + ", "", 1,
         TEXT_ONLY + ": the feature regulariser without the image item features"),
        ("main.py", "+ 1./2*(g_user_image**2).sum() ", "", 1,
         TEXT_ONLY + ": the feature regulariser without the image user features"),
        ("main.py", "                batch_contrastive_loss1 = self.batched_contrastive_loss(G_image_user_id[users],"
         "G_user_emb[users])\n", "", 1, TEXT_ONLY + ": no image-view contrastive term"),
        ("main.py", "batch_contrastive_loss = batch_contrastive_loss1 + batch_contrastive_loss2",
         "batch_contrastive_loss = batch_contrastive_loss2", 1, TEXT_ONLY + ": the text-view contrastive term alone"),
        ("main.py", ".cuda()", "", 17, "CPU: no .cuda()"),
        ("Models.py", ".cuda()", "", 3, "CPU: no .cuda()"),
        ("Models.py", "        self.embedding_dict['user']['image'] = image_user_id\n", "", 1,
         TEXT_ONLY + ": the user attention over the text ID view alone"),
        ("Models.py", "        self.embedding_dict['item']['image'] = image_item_id\n", "", 1,
         TEXT_ONLY + ": the item attention over the text ID view alone"),
        ("Models.py", "args.model_cat_rate*F.normalize(image_user_feats, p=2, dim=1) + ", "", 1,
         TEXT_ONLY + ": the user representation adds the text features alone"),
        ("Models.py", "args.model_cat_rate*F.normalize(image_item_feats, p=2, dim=1) + ", "", 1,
         TEXT_ONLY + ": the item representation adds the text features alone"),
        ("utility/batch_test.py", "cores = multiprocessing.cpu_count() // 5", "cores = 1", 1,
         "the evaluation pool: cpu_count() // 5 is 0 on this 2-core machine (Pool(0) raises); one worker"),
        ("utility/metrics.py", "np.asfarray(r)", "np.asarray(r, dtype=np.float64)", 2,
         "NumPy >= 2.0: np.asfarray is gone; the same float64 array"),
        ("utility/batch_test.py", "ndcg.append(metrics.ndcg_at_k(r, K))",
         "ndcg.append(metrics.dcg_at_k(r, K) / metrics.dcg_at_k([1.0] * min(len(user_pos_test), K), K))", 1,
         "metric change: NDCG@K as MMRec and ours define it, the DCG of the top K divided by the ideal DCG of "
         "min(|test items|, K) hits (ndcg_at_k divides by the DCG of the top 50's own hits sorted first, which "
         "is higher and not comparable); Recall is unchanged"),
    ],
}

#: MMSSL's command-line values equal to ``configs/ml100k/mmssl.yaml`` (every one its ``parser.py`` default but
#: the seed and the patience): ``weight_size`` [64, 64] is our ``num_layers`` 2, ``regs[0]`` our ``reg_weight``,
#: ``early_stopping_patience`` MMRec's ``stopping_step`` 20 (the original's default is 7). ``log_log_scale``
#: (1e-5, our ``gumbel_scale``) is not passed: its ``type=int`` rejects 1e-5 on the command line, and the default
#: is the same 1e-5. ``Ks`` keeps [10, 20, 50]: its Recall@20 / NDCG@20 are the second entries.
MMSSL_ARGS: dict[str, Any] = {
    "embed_size": 64, "weight_size": "[64, 64]", "drop_rate": 0.2, "id_cat_rate": 0.36, "model_cat_rate": 0.55,
    "head_num": 4, "m_topk_rate": 1.0e-4, "cl_rate": 0.03, "tau": 0.5, "feat_reg_decay": 1.0e-5, "G_rate": 1.0e-4,
    "gp_rate": 1, "D_lr": 3.0e-4, "G_drop1": 0.31, "G_drop2": 0.5, "real_data_tau": 0.005, "ui_pre_scale": 100,
    "regs": "[1e-5,1e-5,1e-2]", "lr": 5.5e-4, "batch_size": 1024, "seed": 999, "early_stopping_patience": 20,
}


def patches_of(model: str) -> list[tuple[str, str, str, int, str]]:
    """The edits of ``model``'s original code: MMRec's common edits and the model's own, or (for a model from
    its authors' repository) the model's own, which include that repository's common edits."""
    return PATCHES[model] if model in OWN_REPOSITORIES else PATCHES["common"] + PATCHES[model]


def export(model: str, dest: Path) -> str:
    """A fresh export of ``model``'s folder (:data:`ROOTS`) of its mirror (HEAD, :data:`MIRRORS`) into ``dest``
    with its patches applied; its commit."""
    mirror = MIRRORS[model]
    commit = subprocess.run(["git", "-C", str(mirror), "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    root = ROOTS.get(model, "src")
    archive = subprocess.run(["git", "-C", str(mirror), "archive", commit, root], check=True,
                             capture_output=True).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    for name, old, new, count, _ in patches_of(model):
        path = dest / root / name
        text = path.read_text()
        if text.count(old) != count:
            raise RuntimeError(f"patch of {name}: {old!r} found {text.count(old)} times, expected {count}")
        path.write_text(text.replace(old, new))
    return commit


def yaml_text(values: dict[str, Any]) -> str:
    """``values`` as YAML MMRec's loader reads back (JSON values are YAML)."""
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())


def model_config(model: str, src: Path) -> dict[str, Any]:
    """MMRec's ``configs/model/<Model>.yaml`` with :data:`HYPERPARAMETERS` written over it, every grid parameter
    (its ``hyper_parameters``) a one-value list."""
    import yaml

    path = src / "configs" / "model" / f"{MMREC_NAMES[model]}.yaml"
    values = yaml.safe_load(path.read_text())
    values.update(HYPERPARAMETERS[model])
    for key in values.get("hyper_parameters", []):
        if not isinstance(values[key], list):
            values[key] = [values[key]]
    return values


def run_original(model: str, data: Path, epochs: int, runs: Path = RUNS / "original") -> Path:
    """Exports, patches, configures and runs the original ``model`` in ``runs/<model>``; the log's path."""
    folder = runs / model
    if folder.exists():
        raise FileExistsError(f"{folder} exists: remove it to run again")
    if model == "mmssl":
        return run_mmssl(data, epochs, folder)
    root = folder / "mmrec"
    commit = export(model, root)
    src = root / "src"
    # MMRec writes its caches (kNN graphs) into the data folder: links to our files in a folder of its own
    (root / "data" / "ml100k").mkdir(parents=True)
    for name in sorted(os.listdir(data)):
        (root / "data" / "ml100k" / name).symlink_to((data / name).resolve())
    if model == "damrs":
        write_item_graph_dict(data, root / "data" / "ml100k" / "item_graph_dict_2.npy")
    if model == "cohesion":
        write_user_graph_dict(data, root / "data" / "ml100k" / MODEL_DATASET[model]["user_graph_dict_file"])
    dataset = {**DATASET, **MODEL_DATASET.get(model, {}), **SETTINGS, "epochs": epochs, "data_path": "../data/"}
    if model in IMAGE_AS_TEXT:
        dataset["vision_feature_file"] = DATASET["text_feature_file"]
    (src / "configs" / "dataset" / "ml100k.yaml").write_text(yaml_text(dataset))
    (src / "configs" / "model" / f"{MMREC_NAMES[model]}.yaml").write_text(yaml_text(model_config(model, src)))
    source = {"repository": OWN_REPOSITORIES[model][0], "commit": commit} if model in OWN_REPOSITORIES \
        else {"mmrec_commit": commit}
    (folder / "meta.json").write_text(json.dumps({**source, "epochs": epochs}) + "\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    driver = ("import sys, runpy, torch; torch.set_num_threads(1); "
              "sys.argv = ['main.py', '--model', sys.argv[1], '--dataset', 'ml100k']; "
              "runpy.run_path('main.py', run_name='__main__')")
    log = folder / "stdout.log"
    start, load_start, cpu_start = time.time(), load(), children_cpu()
    with open(log, "w") as handle:
        subprocess.run([str(MMREC_PYTHON), "-c", driver, MMREC_NAMES[model]], cwd=src, env=env, check=True,
                       stdout=handle, stderr=subprocess.STDOUT)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(wall_s=time.time() - start, cpu_s=children_cpu() - cpu_start, load_start=load_start,
                load_end=load())
    (folder / "meta.json").write_text(json.dumps(meta) + "\n")
    return log


def write_mmssl_data(data: Path, dest: Path) -> None:
    """``data`` (``ml100k.inter``: ``x_label`` 0 / 1 / 2 = train / valid / test; ``text_feat.npy``) in the format
    of MMSSL's ``utility/load_data.py`` and ``main.py``, in ``dest``: ``train.json``, ``val.json``, ``test.json``
    (``{"user": [items]}``, our ids, each user with items in that part), ``train_mat`` (a pickled
    ``scipy.sparse.csr_matrix``, users x items, 1.0 per training interaction, the shape of every id in the file)
    and ``text_feat.npy``. ``image_feat.npy`` is the text features too: ``main.py`` loads it unconditionally and
    the text-only patches (:data:`PATCHES`) discard every output of the image branch."""
    import pickle

    import numpy as np
    import scipy.sparse as sp

    table = np.loadtxt(data / DATASET["inter_file_name"], delimiter="\t", skiprows=1, dtype=np.int64, ndmin=2)
    users, items, labels = table[:, 0], table[:, 1], table[:, 4]
    num_users, num_items = int(users.max()) + 1, int(items.max()) + 1
    dest.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(("train.json", "val.json", "test.json")):
        part: dict[str, list[int]] = {}
        for user, item in zip(users[labels == label].tolist(), items[labels == label].tolist(), strict=True):
            part.setdefault(str(user), []).append(item)
        (dest / name).write_text(json.dumps(part))
    train = labels == 0
    matrix = sp.csr_matrix((np.ones(int(train.sum()), dtype=np.float32), (users[train], items[train])),
                           shape=(num_users, num_items))
    with open(dest / "train_mat", "wb") as handle:
        pickle.dump(matrix, handle)
    features = np.load(data / DATASET["text_feature_file"])
    for name in ("text_feat.npy", "image_feat.npy"):
        np.save(dest / name, features)


def run_mmssl(data: Path, epochs: int, folder: Path) -> Path:
    """Exports and patches MMSSL's code into ``folder/MMSSL``, writes ``data`` in its format
    (:func:`write_mmssl_data`) and runs its ``main.py`` with :data:`MMSSL_ARGS` on the CPU with one thread
    (``--debug``: its logger prints and writes no file); the log's path."""
    commit = export("mmssl", folder)
    write_mmssl_data(data, folder / "data" / "ml100k")
    (folder / "meta.json").write_text(json.dumps({"repository": OWN_REPOSITORIES["mmssl"][0], "commit": commit,
                                                  "epochs": epochs}) + "\n")
    arguments = [f"--{key}={value}" for key, value in {**MMSSL_ARGS, "epoch": epochs}.items()]
    arguments += [f"--data_path={(folder / 'data').resolve()}/", "--dataset=ml100k", "--debug"]
    driver = ("import sys, runpy, torch; torch.set_num_threads(1); "
              "sys.argv = ['main.py', *sys.argv[1:]]; runpy.run_path('main.py', run_name='__main__')")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    log = folder / "stdout.log"
    start, load_start, cpu_start = time.time(), load(), children_cpu()
    with open(log, "w") as handle:
        subprocess.run([sys.executable, "-c", driver, *arguments], cwd=folder / ROOTS["mmssl"], env=env, check=True,
                       stdout=handle, stderr=subprocess.STDOUT)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(wall_s=time.time() - start, cpu_s=children_cpu() - cpu_start, load_start=load_start,
                load_end=load())
    (folder / "meta.json").write_text(json.dumps(meta) + "\n")
    return log


def write_item_graph_dict(data: Path, path: Path) -> None:
    """DA-MRS's behaviour graph file (``item_graph_dict_2.npy``, written by the authors' ``build_iib_graph.py
    --topk 2``, not part of MMRec): ``{item: [neighbours, shared-user counts]}``, each item's two items sharing
    the most training users, at least two of them. Built with our
    :func:`~lit_mmrec.nn.cooccurrence.item_cooccurrence_neighbours` (the same rule; ties to the smaller id)
    from the training rows (``x_label == 0``) of ``ml100k.inter``."""
    import numpy as np
    import torch

    from lit_mmrec.nn.cooccurrence import item_cooccurrence_neighbours

    table = np.loadtxt(data / DATASET["inter_file_name"], delimiter="\t", skiprows=1, dtype=np.int64)
    users, items, labels = table[:, 0], table[:, 1], table[:, 4]
    train = labels == 0
    neighbours, counts = item_cooccurrence_neighbours(
        torch.from_numpy(users[train]), torch.from_numpy(items[train]), int(users.max()) + 1, int(items.max()) + 1,
        k=2, min_common=2)
    graph = {}
    for item, (row, count) in enumerate(zip(neighbours.tolist(), counts.tolist(), strict=True)):
        kept = [(j, c) for j, c in zip(row, count, strict=True) if j >= 0]
        if kept:
            graph[item] = [[j for j, _ in kept], [c for _, c in kept]]
    np.save(path, np.array(graph, dtype=object), allow_pickle=True)


def write_user_graph_dict(data: Path, path: Path) -> None:
    """COHESION's user graph file (``user_graph_dict.npy``, written by the authors'
    ``preprocessing/dualgnn-gen-u-u-matrix.py``): ``{user: [neighbours, shared-item counts]}`` for every user,
    each user's at most 200 users sharing training items, most shared first. Built with our
    :func:`~lit_mmrec.nn.user_graph.cooccurrence_neighbours` (the same counts; ties to the smaller id, which the
    script leaves to ``torch.topk``) from the training rows (``x_label == 0``) of ``ml100k.inter``: the graph our
    COHESION builds when the data set has no such file."""
    import numpy as np
    import torch

    from lit_mmrec.nn.user_graph import cooccurrence_neighbours

    table = np.loadtxt(data / DATASET["inter_file_name"], delimiter="\t", skiprows=1, dtype=np.int64)
    users, items, labels = table[:, 0], table[:, 1], table[:, 4]
    train = labels == 0
    num_users = len(np.unique(users))
    neighbours, counts = cooccurrence_neighbours(
        torch.from_numpy(users[train]), torch.from_numpy(items[train]), num_users, int(items.max()) + 1, k=200)
    graph = {}
    for user, (row, count) in enumerate(zip(neighbours.tolist(), counts.tolist(), strict=True)):
        kept = [(v, c) for v, c in zip(row, count, strict=True) if v >= 0]
        graph[user] = [[v for v, _ in kept], [c for _, c in kept]]
    np.save(path, np.array(graph, dtype=object), allow_pickle=True)


TRAIN = re.compile(r"epoch (\d+) training \[time: ([\d.]+)s")
EVAL = re.compile(r"epoch (\d+) evaluating \[time: ([\d.]+)s, valid_score: ([\d.]+)\]")
RESULT = re.compile(r"(\w+@\d+): ([\d.]+)")


def parse_log(text: str) -> dict[str, Any]:
    """From an MMRec log: training and evaluation seconds per epoch, the epochs run, the best-valid epoch and its
    valid and test metrics (the summary ``best valid result: ...`` / ``test result: ...`` MMRec logs at the end:
    its ``best_test_upon_valid``, the test result of the last epoch that improved the validation Recall@20)."""
    train = [float(m.group(2)) for m in TRAIN.finditer(text)]
    evaluations = [float(m.group(2)) for m in EVAL.finditer(text)]
    best_epoch, epoch, valid, test = None, None, None, None
    for line in text.splitlines():
        found = EVAL.search(line)
        if found:
            epoch = int(found.group(1))
        if "Best validation results updated" in line:
            best_epoch = epoch
        if "INFO best valid result: " in line:
            valid = {k.lower(): float(v) for k, v in RESULT.findall(line)}
        elif valid is not None and test is None and "INFO test result: " in line:
            test = {k.lower(): float(v) for k, v in RESULT.findall(line)}
    return {
        "epochs": len(train), "best_epoch": best_epoch, "valid": valid, "test": test,
        "train_s": statistics.mean(train) if train else None,
        "eval_s": statistics.mean(evaluations) if evaluations else None,
        "finished": "All Over" in text,
    }


MMSSL_EPOCH = re.compile(r"Epoch (\d+) \[([\d.]+)s \+ ([\d.]+)s\]: .*recall=\[([\d.]+), ([\d.]+),.*"
                         r"ndcg=\[([\d.]+), ([\d.]+),")
MMSSL_TEST = re.compile(r"Test_Recall@20: ([\d.]+),\s+precision=\[[\d.]+\], ndcg=\[([\d.]+)\]")


def parse_mmssl_log(text: str) -> dict[str, Any]:
    """From an MMSSL log (``main.py``'s ``train``): training and evaluation seconds per epoch (its ``Epoch N [T s +
    E s]`` line, ``E`` the validation), the epochs run, the best-valid epoch, its validation Recall@20 / NDCG@20
    and its test ones: ``main.py`` evaluates the test users only when the validation Recall@20 beats its best so
    far (``Test_Recall@20: ...``), and the last such line is the run's result (what its final ``test_ret`` holds)."""
    train, evaluations = [], []
    best_epoch, valid, test = None, None, None
    epoch, last = None, None
    for line in text.splitlines():
        found = MMSSL_EPOCH.search(line)
        if found:
            epoch = int(found.group(1))
            train.append(float(found.group(2)))
            evaluations.append(float(found.group(3)))
            last = {"recall@20": float(found.group(5)), "ndcg@20": float(found.group(7))}
        tested = MMSSL_TEST.search(line)
        if tested:
            best_epoch, valid = epoch, last
            test = {"recall@20": float(tested.group(1)), "ndcg@20": float(tested.group(2))}
    return {
        "epochs": len(train), "best_epoch": best_epoch, "valid": valid, "test": test,
        "train_s": statistics.mean(train) if train else None,
        "eval_s": statistics.mean(evaluations) if evaluations else None,
        "finished": "{'precision': array(" in text,
    }


class PhaseTimer(L.Callback):
    """Logs ``time/train_s`` (seconds of the training epoch, its validation excluded) and ``time/eval_s`` (seconds
    of the validation: ranking every item for every validation user, metrics included) once per epoch, the two
    timings MMRec's trainer logs (``epoch N training [time: ...]``, ``epoch N evaluating [time: ...]``)."""

    def __init__(self) -> None:
        self.epoch_start = 0.0
        self.eval_start = 0.0
        self.eval_s = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_start = time.perf_counter()
        self.eval_s = 0.0

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.eval_start = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.eval_s += time.perf_counter() - self.eval_start

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = time.perf_counter() - self.epoch_start
        pl_module.log("time/train_s", total - self.eval_s)
        pl_module.log("time/eval_s", self.eval_s)


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far, theirs included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load() -> str:
    """The 1-, 5- and 15-minute load averages (the machine is shared; timings depend on it)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_ours(model: str, max_epochs: int) -> None:
    """Our ``model`` on ml100k, seeds 999 / 1 / 2 one after another with one thread, MMRec's stopping rule,
    :class:`PhaseTimer` timing each epoch (the runner's command; its runs.json under :data:`OURS`)."""
    command = [sys.executable, "-m", "lit_mmrec.experiments", "table", "--configs", "configs", "--datasets",
               "ml100k", "--models", model, "--inits", "random", "--seeds", "999", "1", "2", "--jobs", "1",
               "--max_epochs", str(max_epochs), "--out", str(OURS), "--", "--early_stopping.rule", "mmrec",
               "--trainer.callbacks+=studies.mmrec_side_by_side.PhaseTimer"]
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def collect(logs_dir: Path, models: tuple[str, ...] = MODELS) -> list[dict[str, Any]]:
    """One record per run of both sides of ``models``: test Recall@20 / NDCG@20 at the best-valid epoch, epochs
    (best, run), mean training seconds per epoch and evaluation seconds per validation, wall seconds, load
    averages."""
    from lit_mmrec.experiments import logs
    from lit_mmrec.experiments.runs_json import read_runs

    records = []
    for model in models:
        folder = RUNS / "original" / model
        if (folder / "stdout.log").is_file():
            found = (parse_mmssl_log if model == "mmssl" else parse_log)((folder / "stdout.log").read_text())
            meta = json.loads((folder / "meta.json").read_text())
            records.append({
                "model": model, "side": "original", "seed": 999, "finished": found["finished"],
                "epochs_cap": meta["epochs"], "epochs": found["epochs"],
                "best_epoch": None if found["best_epoch"] is None else found["best_epoch"] + 1,
                "test": found["test"], "train_s": found["train_s"], "eval_s": found["eval_s"],
                "wall_s": meta.get("wall_s"), "load": [meta.get("load_start"), meta.get("load_end")],
                "cpu_s_per_epoch": meta["cpu_s"] / found["epochs"] if "cpu_s" in meta and found["epochs"] else None,
                **{key: meta[key] for key in ("mmrec_commit", "repository", "commit") if key in meta}})
    ours = read_runs(OURS / "runs.json") if (OURS / "runs.json").is_file() else []
    loads = json.loads((RUNS / "ours_load.json").read_text()) if (RUNS / "ours_load.json").is_file() else {}
    done = [run for run in ours if run.get("status") == "done" and run["model"] in models]
    for run in done:
        rows = logs.read_rows(logs_dir / run["name"])
        train = [float(r["time/train_s"]) for r in rows if "time/train_s" in r]
        evaluations = [float(r["time/eval_s"]) for r in rows if "time/eval_s" in r]
        records.append({
            "model": run["model"], "side": "ours", "seed": run["seed"], "finished": True,
            "epochs_cap": int(run["options"][run["options"].index("--trainer.max_epochs") + 1]), "epochs": run["epochs"],
            "best_epoch": run["epochs_to_best"],
            "test": {k: run["test"][k] for k in ("recall@20", "ndcg@20")},
            "train_s": statistics.mean(train), "eval_s": statistics.mean(e for e in evaluations if e > 0),
            "wall_s": run["wall_s"], "load": loads.get(run["model"], {}).get("load"),
            "cpu_s_per_epoch": cpu_per_epoch(loads.get(run["model"], {}), [r for r in done if r["model"] == run["model"]])})
    return records


def cpu_per_epoch(found: dict[str, Any], runs: list[dict[str, Any]]) -> float | None:
    """CPU seconds of one model's runner command (its seeds one after another, start-up and test included) per
    epoch trained."""
    return found["cpu_s"] / sum(r["epochs"] for r in runs) if "cpu_s" in found else None


def mean_std(values: list[float | None], digits: int = 4) -> str:
    """``mean ± std`` of the known ``values`` (one value alone; ``–`` for none)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def report(records: list[dict[str, Any]]) -> str:
    """The side-by-side table (markdown) from :func:`collect`'s records."""
    lines = ["| model | side | seeds | epochs (best/stopped) | test R@20 | test N@20 | s/epoch | s/eval | "
             "CPU s/epoch, whole run | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model in MODELS:
        original = [r for r in records if r["model"] == model and r["side"] == "original"]
        ours = sorted((r for r in records if r["model"] == model and r["side"] == "ours"), key=lambda r: r["seed"])
        for side, runs in (("original", original), ("ours", ours)):
            if not runs:
                continue
            epochs = ", ".join(f"{r['best_epoch'] or '–'}/{r['epochs']}" + ("" if r["finished"] else " (running)") +
                               (" (capped)" if r["epochs"] >= r["epochs_cap"] else "")
                               for r in runs)
            ratio = ""
            if side == "ours" and original and original[0]["test"]:
                base = original[0]
                recall = statistics.mean(r["test"]["recall@20"] for r in runs) / base["test"]["recall@20"]
                ndcg = statistics.mean(r["test"]["ndcg@20"] for r in runs) / base["test"]["ndcg@20"]
                train = base["train_s"] / statistics.mean(r["train_s"] for r in runs)
                evaluation = base["eval_s"] / statistics.mean(r["eval_s"] for r in runs)
                ratio = (f"R@20 {recall:.3f}, N@20 {ndcg:.3f} ({'within' if abs(recall - 1) <= 0.05 else 'outside'}"
                         f" ±5%); speed {train:.2f}x per epoch, {evaluation:.2f}x per eval "
                         f"({'≥' if train >= 2 else '<'} 2x)")
            tests = [r["test"] for r in runs if r["test"]]
            lines.append(
                f"| {MMREC_NAMES[model]} | {side} | {', '.join(str(r['seed']) for r in runs)} | {epochs} | "
                f"{mean_std([t['recall@20'] for t in tests]) if tests else '–'} | "
                f"{mean_std([t['ndcg@20'] for t in tests]) if tests else '–'} | "
                f"{mean_std([r['train_s'] for r in runs], 2)} | {mean_std([r['eval_s'] for r in runs], 3)} | "
                f"{mean_std([runs[0].get('cpu_s_per_epoch')], 2)} | {ratio} |")
    return "\n".join(lines) + "\n"


def patch_list() -> str:
    """The edits to MMRec's code, per model, as a markdown list."""
    lines = []
    for model in ("common", *MODELS):
        where = "every MMRec model" if model == "common" else MMREC_NAMES[model]
        for name, old, new, count, why in PATCHES[model]:
            inline = len(old) + len(new) < 150 and "\n" not in old.strip() + new.strip()
            edit = f"`{old.strip()}` → `{new.strip() or '(nothing)'}`" if inline \
                else f"{len(old.splitlines())} line(s) → {len(new.splitlines())}"
            lines.append(f"- {where}, `{ROOTS.get(model, 'src')}/{name}`{f' (x{count})' if count > 1 else ''}: {why}. {edit}")
        if model in IMAGE_AS_TEXT:
            lines.append(f"- {MMREC_NAMES[model]}, its data set config (no code edit): `vision_feature_file: "
                         f"{DATASET['text_feature_file']}`, the text features read as the image ones too")
        if model == "mmssl":
            lines.append(f"- {MMREC_NAMES[model]}, its data folder (no code edit): `image_feat.npy` is "
                         f"`{DATASET['text_feature_file']}` (`main.py` loads it unconditionally; the text-only edits "
                         "above discard every output of its image branch, which still runs: its time counts)")
        if model == "cohesion":
            lines.append(f"- {MMREC_NAMES[model]}, its data folder (no code edit): "
                         f"`{MODEL_DATASET[model]['user_graph_dict_file']}`, the user graph file the authors' "
                         "preprocessing writes, written by `write_user_graph_dict` from the training rows")
    return "\n".join(lines) + "\n"


def page(records: list[dict[str, Any]]) -> str:
    """``table.md``: the table of :func:`report` and the :func:`patch_list`."""
    return report(records) + "\n" + patch_list()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    original = commands.add_parser("original", help="run the original code (seed 999)")
    original.add_argument("--models", nargs="+", choices=MODELS, required=True)
    original.add_argument("--data", type=Path, default=Path("data/ml100k"))
    original.add_argument("--epochs", type=int, default=SETTINGS["epochs"], help="MMRec's epochs (a cap)")
    original.add_argument("--runs", type=Path, default=RUNS / "original",
                          help="the folder of the runs (collect reads the default one; another one holds a repeat)")
    ours = commands.add_parser("ours", help="run ours (seeds 999, 1, 2) through the experiment runner")
    ours.add_argument("--models", nargs="+", choices=MODELS, required=True)
    ours.add_argument("--max_epochs", type=int, default=SETTINGS["epochs"])
    collecting = commands.add_parser("collect", help="write runs.json from both sides' logs")
    collecting.add_argument("--logs", type=Path, default=Path("logs/experiments"), help="the runner's CSVLogger folder")
    collecting.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                            help="the models whose records are read from the logs; runs.json keeps the others'")
    commands.add_parser("report", help="print the table (from runs.json) and the patch list")
    args = parser.parse_args(argv)
    if args.command == "original":
        for model in args.models:
            parse = parse_mmssl_log if model == "mmssl" else parse_log
            print(json.dumps({model: parse(run_original(model, args.data, args.epochs, args.runs).read_text())}))
    elif args.command == "ours":
        for model in args.models:
            start, cpu_start = load(), children_cpu()
            run_ours(model, args.max_epochs)
            path = RUNS / "ours_load.json"
            found = json.loads(path.read_text()) if path.is_file() else {}
            found[model] = {"load": [start, load()], "cpu_s": children_cpu() - cpu_start}
            path.write_text(json.dumps(found) + "\n")
    elif args.command == "collect":
        path = OUT / "runs.json"
        kept = [r for r in json.loads(path.read_text()) if r["model"] not in args.models] if path.is_file() else []
        found = collect(args.logs, tuple(args.models))
        path.write_text(json.dumps(kept + found, indent=1) + "\n")
    else:
        print(page(json.loads((OUT / "runs.json").read_text())), end="")


if __name__ == "__main__":
    sys.exit(main())
