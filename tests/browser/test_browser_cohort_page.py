"""The Cohort page in a real browser: a folder with every modality kind, its previews, and an upload."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from dashboard import wait_for_app

from crl.data.synthetic import write_preset

pytestmark = pytest.mark.browser


def test_cohort_folder_previews_and_upload(app_url, page, screenshot_dir, tmp_path):
    folder = write_preset("demo", tmp_path / "demo", n=300, seed=0)
    page.goto(f"{app_url}/cohort")  # the app opens on the Overview
    wait_for_app(page)
    page.get_by_text("Synthetic preset").click()
    page.get_by_role("button", name="Generate").wait_for(timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=str(screenshot_dir / "cohort-preset.png"))
    page.get_by_text("Folder on this server").click()
    wait_for_app(page)
    path = page.get_by_label("Cohort folder (the one holding cohort.toml)")
    path.fill(str(folder))
    path.press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Open").click()
    page.get_by_text("296 subjects in 3 modalities").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "cohort-folder.png"))

    # The demo's cohort.toml labels its modalities: the tabs read "Home sleep test", not "sleep".
    for tab in ("Who has what", "Home sleep test", "Left eye photograph", "Covariates"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(800)
        page.screenshot(path=str(screenshot_dir / f"cohort-tab-{tab.split()[0].lower()}.png"))

    ids = [f"P{i:03d}" for i in range(40)]
    rng = np.random.default_rng(0)
    labs = pd.DataFrame(rng.normal(size=(40, 3)), columns=["hba1c", "ldl", "crp"])
    labs.insert(0, "patient_id", ids)
    labs.loc[3, "ldl"] = np.nan
    sleep = pd.DataFrame(
        {"subject": np.repeat(ids, 20), "hour": np.tile(np.arange(20), 40), "spo2": rng.normal(95, 1, 800)}
    )
    page.get_by_text("Upload files").click()
    wait_for_app(page)
    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
    dropzone.set_input_files(
        [
            {"name": "Labs 2024.csv", "mimeType": "text/csv", "buffer": labs.to_csv(index=False).encode()},
            {"name": "sleep.csv", "mimeType": "text/csv", "buffer": sleep.to_csv(index=False).encode()},
        ]
    )
    page.get_by_text("Time column").first.wait_for(timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=str(screenshot_dir / "cohort-upload-form.png"))
    page.get_by_role("button", name="Create cohort").click()
    page.get_by_text("cannot be trained on yet").first.wait_for(timeout=60_000)  # the NaN in ldl is an error
    wait_for_app(page)
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "cohort-upload-created.png"))

    # The fix the report offers, done from the form: leave the subject with a missing value out.
    page.get_by_role("combobox", name="Missing values").first.click()
    page.get_by_role("option", name="Leave those subjects out").click()
    wait_for_app(page)
    # Names the user types are shown as typed: no colour, bold, LaTeX, emoji or HTML.
    name = "Eye :red[study] *2024* <b>x</b> $y$ :smile:"
    page.get_by_label("Cohort name").fill(name)
    page.get_by_label("Cohort name").press("Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Create cohort").click()
    page.get_by_text("39 subjects in 2 modalities").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.get_by_role("heading", name=name).count() == 1
    assert page.get_by_text(f"Cohort '{name}' created from 2 files.").count() == 1  # the toast too
    assert page.locator('[data-testid="stMain"] b').count() == 0
    page.get_by_role("tab", name="Labs 2024").click()  # "labs_2024" in words: no label declared
    page.wait_for_timeout(800)
    wait_for_app(page)
    page.screenshot(path=str(screenshot_dir / "cohort-upload-table.png"))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.png", b"x")
    dropzone.set_input_files(
        [{"name": "eyes.zip", "mimeType": "application/zip", "buffer": buffer.getvalue()}]
    )
    page.get_by_text("was refused").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert page.locator("text=Traceback").count() == 0
    page.screenshot(path=str(screenshot_dir / "cohort-upload.png"))
