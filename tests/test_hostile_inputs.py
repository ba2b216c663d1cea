"""Hostile inputs outside the cohort validator's own table: each gets a named error, never a traceback."""

from __future__ import annotations

import pytest
from cohort_factory import make_cohort

from crl.cli import main
from crl.errors import ConfigError

pytestmark = pytest.mark.hostile

DEEP_TOML = "x = " + "[" * 500 + "]" * 500 + "\n"
DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("text", "file_format"), [(DEEP_TOML, "toml"), (DEEP_JSON, "json")])
def test_deeply_nested_configuration_file_is_a_config_error(text, file_format):
    from crl.ui.config_file import parse_config_text

    with pytest.raises(ConfigError, match="nests tables or lists too deeply"):
        parse_config_text(text, file_format)


def test_deeply_nested_manifest_keeps_the_sidebar_label_and_fails_validate_cleanly(tmp_path, capsys):
    from crl.ui.state import cohort_label

    root = make_cohort(tmp_path)
    (root / "cohort.toml").write_text(DEEP_TOML)
    assert cohort_label(root) == root.name
    assert main(["validate", str(root)]) == 1
    err = capsys.readouterr()
    assert "nests arrays or tables too deeply" in err.out + err.err
    assert "Traceback" not in err.out + err.err
