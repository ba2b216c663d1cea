"""Latent display names: readable defaults, plain names via matching, names.json saved atomically and validated."""

import json

import numpy as np
import pandas as pd
import pytest

from crl.analysis.names import (
    MAX_LENGTH,
    NAMES_FILE,
    blank_names,
    clean_name,
    default_name,
    default_names,
    load_names,
    plain_names,
    save_names,
    signed_name,
)
from crl.errors import CrlError, RunError

LATENTS = ["sleep.z0", "sleep.z1", "fundus_left.z0"]


def test_defaults_read_as_words_with_one_based_numbers():
    assert default_names(LATENTS) == {
        "sleep.z0": "Sleep 1",
        "sleep.z1": "Sleep 2",
        "fundus_left.z0": "Fundus left 1",
    }
    assert default_name("not a latent") == "not a latent"


def test_clean_name_trims_flattens_and_caps():
    assert clean_name("  apnea\n severity\t ") == "apnea severity"
    assert clean_name("a\x00b") == "a b"
    assert clean_name(None) == "" and clean_name(float("nan")) == ""
    assert len(clean_name("x" * 500)) == MAX_LENGTH


def test_save_then_load_round_trip_keeps_only_edits(tmp_path):
    defaults = default_names(LATENTS)
    final = save_names(tmp_path, {"sleep.z0": " Apnea ", "sleep.z1": "", "ghost.z9": "nobody"}, defaults)
    assert final == {"sleep.z0": "Apnea", "sleep.z1": "Sleep 2", "fundus_left.z0": "Fundus left 1"}
    stored = json.loads((tmp_path / NAMES_FILE).read_text())
    assert stored == {"names": {"sleep.z0": "Apnea"}}  # defaults and unknown latents are not stored
    assert load_names(tmp_path, defaults) == final
    assert [p.name for p in tmp_path.iterdir()] == [NAMES_FILE]  # no temporary file left behind


def test_markup_is_stored_as_plain_text(tmp_path):
    defaults = default_names(LATENTS)
    save_names(tmp_path, {"sleep.z0": "<script>alert(1)</script>"}, defaults)
    assert load_names(tmp_path, defaults)["sleep.z0"] == "<script>alert(1)</script>"


def test_two_latents_may_not_share_a_name(tmp_path):
    with pytest.raises(CrlError, match="give each latent its own name"):
        save_names(tmp_path, {"sleep.z0": "Sleep 2"}, default_names(LATENTS))
    with pytest.raises(CrlError):
        save_names(tmp_path, {"sleep.z0": "apnea", "sleep.z1": "APNEA"}, default_names(LATENTS))
    assert not (tmp_path / NAMES_FILE).exists()


def test_damaged_names_file_is_reported_not_ignored(tmp_path):
    (tmp_path / NAMES_FILE).write_text("{not json")
    with pytest.raises(RunError, match="delete it"):
        load_names(tmp_path, default_names(LATENTS))
    (tmp_path / NAMES_FILE).write_text("[1, 2]")
    with pytest.raises(RunError, match="names"):
        load_names(tmp_path, default_names(LATENTS))


def test_unwritable_run_folder_gives_a_readable_error(tmp_path):
    missing = tmp_path / "gone"
    with pytest.raises(RunError, match="could not save names"):
        save_names(missing, {"sleep.z0": "x"}, default_names(LATENTS))


def _cohort_with_plain_names(root, n=200, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i}" for i in range(n)]
    z = rng.normal(size=(n, 3))
    truth = root / "truth"
    truth.mkdir(parents=True)
    pd.DataFrame({"subject_id": ids, "sleep.z0": z[:, 0], "sleep.z1": z[:, 1], "labs.z0": z[:, 2]}).to_csv(
        truth / "latents.csv", index=False
    )
    pd.DataFrame({"source": ["sleep.z0"], "target": ["labs.z0"]}).to_csv(truth / "graph.csv", index=False)
    pd.DataFrame(
        {"latent": ["sleep.z0", "sleep.z1", "labs.z0"], "name": ["apnea", "fragmentation", "glucose"]}
    ).to_csv(truth / "latent_names.csv", index=False)
    return ids, z


def test_plain_names_follow_the_matching_not_the_column_name(tmp_path):
    ids, z = _cohort_with_plain_names(tmp_path)
    rng = np.random.default_rng(1)
    # Learned sleep latents come in swapped order and sign-flipped; the labs latent is pure noise.
    learned = pd.DataFrame(
        {
            "sleep.z0": -z[:, 1],
            "sleep.z1": 2 * z[:, 0] + 0.1 * rng.normal(size=len(ids)),
            "labs.z0": rng.normal(size=len(ids)),
        },
        index=pd.Index(ids, name="subject_id"),
    )
    names = plain_names(tmp_path, learned)
    # noise borrows no name; a latent that falls as its cause rises says so
    assert names == {"sleep.z0": "fragmentation (reversed)", "sleep.z1": "apnea"}
    assert plain_names(tmp_path) == {"sleep.z0": "apnea", "sleep.z1": "fragmentation", "labs.z0": "glucose"}


def test_a_reversed_name_stays_within_the_length_limit():
    assert signed_name("apnea", 0.3) == "apnea"
    long = signed_name("x" * MAX_LENGTH, -0.9)
    assert len(long) == MAX_LENGTH and long.endswith(" (reversed)")


def test_no_plain_names_without_the_table(tmp_path):
    assert plain_names(tmp_path) == {}


# --- names as typed in the editor (issue #20): refused when too long, back to the default when blank


@pytest.mark.hostile
def test_a_name_over_the_limit_is_refused_not_cut(tmp_path):
    defaults = default_names(LATENTS)
    save_names(tmp_path, {"sleep.z0": "kept"}, defaults)
    with pytest.raises(CrlError, match=rf"at most {MAX_LENGTH} characters: Sleep 2 has 75 \('yyy"):
        save_names(tmp_path, {"sleep.z0": "fine", "sleep.z1": "y" * 75}, defaults)
    assert load_names(tmp_path, defaults)["sleep.z0"] == "kept"  # nothing written: the old names stand
    assert (
        save_names(tmp_path, {"sleep.z1": "  " + "y" * MAX_LENGTH + "\n"}, defaults)["sleep.z1"] == "y" * 60
    )


@pytest.mark.hostile
@pytest.mark.parametrize(
    "typed",
    ["", "   ", "\t\n", "\x07\x00\x1b", None, float("nan")],
    ids=["empty", "spaces", "tab-newline", "controls-only", "none", "nan"],
)
def test_a_blank_name_goes_back_to_the_default_and_is_reported(tmp_path, typed):
    defaults = default_names(LATENTS)
    save_names(tmp_path, {"sleep.z0": "apnea"}, defaults)
    typed_names = {"sleep.z0": typed, "sleep.z1": "fragmentation"}
    assert blank_names(typed_names) == ["sleep.z0"]
    final = save_names(tmp_path, typed_names, defaults)
    assert final["sleep.z0"] == "Sleep 1" and load_names(tmp_path, defaults)["sleep.z0"] == "Sleep 1"


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("👩\u200d⚕️ nurse", "👩\u200d⚕️ nurse"),  # the joiner holds the emoji together
        ("שלום عربي", "שלום عربي"),
        ("\u202eevil\u202c", "evil"),  # a bidi override would reorder the text around the name
        ("esc\x1b[31mred", "esc [31mred"),
    ],
    ids=["emoji-joiner", "right-to-left", "bidi-override", "escape-sequence"],
)
def test_clean_name_keeps_scripts_and_emoji_but_no_controls(typed, kept):
    assert clean_name(typed) == kept
