"""Hostile latent, modality and clinical-variable names on the network page in a real Chromium: the page raises
no error and the canvas draws every name as written (vis-network's html font mode once threw "Invalid regular
expression" on "dose (<5 mg", leaving an empty graph with no message)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dashboard import serve, wait_for_app  # noqa: E402
from hostile_names import HOSTILE_NAMES, hostile_params  # noqa: E402
from run_factory import fake_run  # noqa: E402

from crl.analysis.names import clean_name  # noqa: E402
from crl.data.synthetic import write_preset  # noqa: E402
from crl.viz.layout import wrap_label  # noqa: E402
from crl.viz.network import latent_network_html  # noqa: E402

pytestmark = pytest.mark.browser

# Records every string the page paints on a canvas (vis-network draws each label line with fillText).
_RECORD_TEXT = """
window.crlDrawn = [];
for (const method of ['fillText', 'strokeText']) {
  const original = CanvasRenderingContext2D.prototype[method];
  CanvasRenderingContext2D.prototype[method] = function (text, ...rest) {
    window.crlDrawn.push(String(text));
    return original.call(this, text, ...rest);
  };
}
"""


def _lines(text: str) -> list[str]:
    """The lines vis-network draws a label on."""
    return re.split(r"\r\n|\r|\n", text)


def _draw(page, names: list[str], modalities: list[str], covariate: str) -> tuple[list[str], set[str]]:
    """Loads the network page for these names; returns the page's errors and the strings painted."""
    d = len(names)
    w = np.zeros((d, d))
    for i in range(d - 1):
        w[i, i + 1] = 0.8
    html = latent_network_html(names, modalities, w, 0.1, covariate_edges=[(covariate, 0, 0.5)], height=700)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.add_init_script(_RECORD_TEXT)
    page.goto("about:blank")
    page.set_content(html)
    try:
        page.wait_for_function("window.network && window.crlDrawn.length > 0", timeout=15_000)
    except PlaywrightTimeout:
        assert errors, "the network page neither drew nor raised an error"
        return errors, set()
    page.wait_for_timeout(300)  # one more frame: every node's label painted
    drawn = set(page.evaluate("window.crlDrawn"))
    return errors, drawn


@pytest.mark.hostile
@pytest.mark.parametrize("name", hostile_params())
def test_a_hostile_name_draws_as_written(page, name):
    """The name as a latent's label, inside a modality caption and as a clinical variable's box."""
    modality, covariate = f"m: {name}", f"c: {name}"
    errors, drawn = _draw(page, [name, "plain", "other"], [modality, modality, "labs"], covariate)
    assert errors == []
    assert page.evaluate("Object.keys(network.body.nodes).length") == 3 + 2 + 1  # latents, captions, variable
    expected = _lines(name) + _lines(modality) + _lines(covariate)
    missing = [line for line in expected if line.strip() and line not in drawn]
    assert missing == [], f"not drawn: {missing!r}; drawn: {sorted(drawn)!r}"


@pytest.mark.hostile
def test_all_hostile_names_together_draw_as_written(page):
    names = list(HOSTILE_NAMES.values())
    half = len(names) // 2
    errors, drawn = _draw(
        page, names, ["sleep"] * half + ["labs & <co>"] * (len(names) - half), "dose (<5 mg"
    )
    assert errors == []
    missing = [line for name in names for line in _lines(name) if line.strip() and line not in drawn]
    assert missing == []


# Typed on the Latent graph page's "Rename latents": the names of the report and their like, one per latent.
TYPED = {
    "sleep.z0": "dose (<5 mg",
    "sleep.z1": "x & y",
    "sleep.z2": "[ref & co",
    "fundus_left.z0": "a<b",
    "fundus_left.z1": "ctrl\x07 nul\x00",
    "fundus_left.z2": "</b><i>italic?",
    "fundus_right.z0": "back\\slash",
    "fundus_right.z1": "🧠 brain שלום",
    "fundus_right.z2": "Long " * 14,
}


@pytest.fixture
def hostile_run_url(tmp_path_factory):
    """A dashboard server whose only run has the TYPED names in its names.json."""
    root = tmp_path_factory.mktemp("hostile-names")
    cohort = write_preset("demo", root / "demo", n=300, seed=1)
    run = fake_run(root / "runs" / "named-run", cohort)
    (run / "names.json").write_text(json.dumps({"names": TYPED}), encoding="utf-8")
    env = {"CRL_CACHE": str(root / "cache"), "CRL_RUNS": str(root / "runs"), "CRL_QUEUE_DIR": str(root / "q")}
    with open(root / "streamlit.log", "w") as log, serve(env, log) as url:
        yield url


@pytest.mark.hostile
def test_the_graph_page_draws_names_typed_in_the_editor(hostile_run_url, page):
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(_RECORD_TEXT)  # runs in the network's iframe too
    page.goto(hostile_run_url)
    wait_for_app(page)
    page.get_by_role("link", name="Latent graph").first.click()
    page.wait_for_timeout(500)
    wait_for_app(page)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Trained model")
    if "named-run" not in picker.inner_text():  # the shipped demo model comes first where it ships
        picker.click()
        page.get_by_role("option", name="named-run").click()
        page.wait_for_timeout(500)
        wait_for_app(page)
    page.frame_locator("iframe").first.locator("#mynetwork canvas").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    assert errors == []
    frame = [f for f in page.frames if f.evaluate("typeof window.network === 'object'")][-1]
    drawn = set(frame.evaluate("window.crlDrawn"))
    expected = [line for name in TYPED.values() for line in wrap_label(clean_name(name)).split("\n")]
    assert [line for line in expected if line not in drawn] == [], sorted(drawn)
