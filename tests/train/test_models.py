"""Reading a model folder's JSON files: a malformed one is a ModelError naming it, never a traceback."""

from __future__ import annotations

import pytest

from datagen.train.models import ModelError, trained_model_dirs


@pytest.mark.parametrize("content", [b"{not json", b'{"base_model_name_or_path": "\xff"}', b"[" * 100_000,
                                     b'{"r": ' + b"1" * 5000 + b"}"],
                         ids=["not JSON", "not UTF-8", "nested too deeply", "too many digits"])
def test_a_malformed_adapter_config_is_named(tmp_path, content):
    (tmp_path / "adapter_config.json").write_bytes(content)
    with pytest.raises(ModelError, match=r"adapter_config.json: not valid JSON"):
        trained_model_dirs(tmp_path)
