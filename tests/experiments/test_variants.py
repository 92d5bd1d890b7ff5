import pytest

from lit_mmrec.experiments.variants import parse_variant, with_option


def test_random_and_sgurinit_variants():
    assert parse_variant("random").is_random and parse_variant("random").callback_args(1) == []
    variant = parse_variant("user-attention,n_clusters=5")
    assert variant.name == "user-attention,n_clusters=5" and variant.slug == "user-attention-n_clusters5"
    args = variant.callback_args(7)
    assert args[0] == "--trainer.callbacks+=lit_mmrec.callbacks.SGURInit"
    pairs = dict(zip(args[1::2], args[2::2], strict=True))
    assert pairs == {
        "--trainer.callbacks.init_args.cluster_on": "user", "--trainer.callbacks.init_args.fusion": "attention",
        "--trainer.callbacks.init_args.n_clusters": "5", "--trainer.callbacks.init_args.seed": "7",
        # the authors' form, as the fragments set it (the default recipe centres the feature-space tables)
        "--trainer.callbacks.init_args.centre": "false",
    }
    # a variant's own value wins; centring switched on by a variant applies to every table unless it names them
    pairs = dict(zip(*[iter(parse_variant("item-sum,centre=true").callback_args(1)[1:])] * 2, strict=True))
    assert pairs["--trainer.callbacks.init_args.centre"] == "true"
    assert pairs["--trainer.callbacks.init_args.centre_tables"] == "all"


@pytest.mark.parametrize("fragments", [None, "configs/sgurinit"])
@pytest.mark.parametrize("text,centre_tables", [
    ("item-sum", None), ("item-sum,centre=true", "all"), ("item-sum,decorrelate=true,residual=0.5", "all"),
    ("item-sum,centre=true,centre_tables=id", "id"), ("item-sum,centre=false", None),
])
def test_centre_tables_of_a_variant(text, centre_tables, fragments):
    args = parse_variant(text).callback_args(1, fragments)
    named = [value for key, value in zip(args, args[1:], strict=False)
             if key == "--trainer.callbacks.init_args.centre_tables"]
    assert named == ([centre_tables] if centre_tables else [])


def test_sweeping_cluster_on_changes_the_head():
    assert with_option(parse_variant("item-sum"), "cluster_on", "user").name == "user-sum"
    assert with_option(parse_variant("item-sum,weight=0.5"), "weight", "0").name == "item-sum,weight=0"


def test_recipe_options_are_variant_options_checked_when_parsed():
    variant = parse_variant("item-sum,blend=convex,weight=0.1,local_norm=symmetric,centre=true")
    assert variant.options == {"cluster_on": "item", "fusion": "sum", "blend": "convex", "weight": "0.1",
                               "local_norm": "symmetric", "centre": "true"}
    assert parse_variant("item-sum,residual=0.5,scale=items,align_items=true").name.endswith("align_items=true")


@pytest.mark.parametrize("text", [
    "item", "item-sum,bogus=1", "item-sum,weight", "a-b-c", "items-sum", "item-sum,blend=convex,weight=2",
    "item-sum,centre=maybe", "item-attention,local_norm=symmetric",
])
def test_bad_variants_are_rejected(text):
    with pytest.raises(ValueError):
        parse_variant(text)


def test_default_variant_is_the_default_fragment_with_its_options_on_top():
    variant = parse_variant("default,n_clusters=50,cluster_on=user")
    assert variant.is_default and variant.fragment == "default"
    assert variant.callback_args(3, "configs/sgurinit") == [
        "--config", "configs/sgurinit/default.yaml",
        "--trainer.callbacks.init_args.n_clusters", "50",
        "--trainer.callbacks.init_args.cluster_on", "user",
        "--trainer.callbacks.init_args.seed", "3",
    ]
    # by class path the callback's own defaults apply: nothing of the published forms is pinned
    assert "centre" not in " ".join(parse_variant("default").callback_args(3))
    assert with_option(parse_variant("default"), "weight", "0.5").name == "default,weight=0.5"
    with pytest.raises(ValueError, match="bad option"):
        parse_variant("default,n_cluster=5")
