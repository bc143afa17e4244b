"""README's config table is generated from genflow/conf (python -m genflow.app.config_table --write)."""

from conftest import REPO


def test_readmes_config_table_is_the_generated_one(tmp_path):
    from genflow.app.config_table import generated_block, main, readme_block, shipped_groups

    text = (REPO / "README.md").read_text()
    block = generated_block()
    assert readme_block(text) == block, "README's config table is stale: python -m genflow.app.config_table --write"
    for group, options in shipped_groups().items():  # every option of every group is listed in its row
        row = next(line for line in block.splitlines() if line.startswith(f"| `{group}` |"))
        assert all(f"`{option}`" in row for option in options), (group, row)
    assert "`bridge`, `cfg`, `classifier`, `inpaint`, **`none`**" in block and "| `experiment` |" in block
    stale = tmp_path / "README.md"
    stale.write_text(text.replace("`bridge`, `cfg`, `classifier`, `inpaint`, **`none`**", "**`none`**"))
    assert main(["--check", "--readme", str(stale)]) == 1
    assert main(["--write", "--readme", str(stale)]) == 0 and stale.read_text() == text
