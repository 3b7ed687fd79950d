import pytest

from wiseft_core.engine.blocks import alpha_for, block_bands, block_name, ordered_blocks, parse_block_alpha
from wiseft_core.errors import WiseftError

VIT_KEYS = [
    "image_encoder.class_embedding", "image_encoder.positional_embedding", "image_encoder.proj",
    "image_encoder.conv1.weight", "image_encoder.ln_pre.weight",
    *[f"image_encoder.transformer.resblocks.{i}.mlp.c_fc.weight" for i in range(12)],
    "image_encoder.ln_post.weight", "head.weight", "head.bias",
]


def test_vit_keys_map_to_embeddings_blocks_post_and_head():
    assert block_name("image_encoder.positional_embedding") == "embeddings"
    assert block_name("image_encoder.transformer.resblocks.11.attn.in_proj_weight") == "block11"
    assert block_name("image_encoder.proj") == "post"
    assert block_name("head.weight") == "head"
    assert ordered_blocks(VIT_KEYS) == ["embeddings", *[f"block{i}" for i in range(12)], "post", "head"]


def test_resnet_keys_map_to_stages():
    assert block_name("image_encoder.layer3.0.conv1.weight") == "layer3"
    assert block_name("image_encoder.attnpool.c_proj.weight") == "attnpool"
    assert block_name("image_encoder.bn1.running_mean") == "embeddings"


def test_bands_group_transformer_blocks_for_a_compact_ui():
    bands = block_bands(VIT_KEYS, bands=3)
    assert list(bands) == ["embeddings", "block0-3", "block4-7", "block8-11", "pooling", "head"]
    assert bands["block4-7"] == ["block4", "block5", "block6", "block7"]


def test_block_alpha_specs_parse_and_the_last_match_wins():
    assert parse_block_alpha("head=1") == ("head", 1.0)
    assert parse_block_alpha("image_encoder.*=0.25") == ("image_encoder.*", 0.25)
    specs = [parse_block_alpha("block*=0.2"), parse_block_alpha("block1=0.9")]
    assert alpha_for("image_encoder.transformer.resblocks.1.ln_1.weight", 0.5, specs) == 0.9
    assert alpha_for("image_encoder.transformer.resblocks.10.ln_1.weight", 0.5, specs) == 0.2
    assert alpha_for("head.weight", 0.5, specs) == 0.5
    for bad in ["head", "=0.5", "head=x"]:
        with pytest.raises(WiseftError):
            parse_block_alpha(bad)
