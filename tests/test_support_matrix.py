"""README's support matrix is the one the rules give (tests/support_matrix.py: the models' own checks and the
oracle matrix's REFUSED pairs); regenerate it with ``python tests/support_matrix.py --write``."""

from support_matrix import README, readme_block, table


def test_readme_support_matrix_is_generated_from_the_rules():
    stale = "README's support matrix is stale: run python tests/support_matrix.py --write"
    assert readme_block(README.read_text()) == table(), stale
