"""The workflow's HTML report as a reader sees it: opened in headless Chromium, every category's
items are listed, figures display as loaded images, HTML tables display their rows.

Needs the Debian packages chromium and chromium-driver and selenium (skips without them, fails
under CI=true). See tests/report_browser.py for how the report page is structured and driven."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from report_browser import (
    IMAGE_TYPES,
    VIEWPORT,
    ReportPage,
    headless_chromium,
    png_pixels,
    require_chromium,
)

from .snakemake_runner import SNAKEMAKE, planned_jobs, run_snakemake

pytestmark = pytest.mark.workflow
TINY = Path(__file__).with_name("config_tiny.yaml")
MODELS = tuple(yaml.safe_load(TINY.read_text())["models"])
DEFAULT_SUBCATEGORY = "Other"  # Snakemake's subcategory for report(..., category=...) without one


def expected_items() -> dict[tuple[str, str], set[str]]:
    """Report items the tiny run must have, by (category, subcategory) (workflow/rules/*.smk).
    The report may hold more (every item it holds is checked), never fewer."""
    items = {
        ("Demo cohort", DEFAULT_SUBCATEGORY): {"results/demo/truth_volumes_vs_age.png"},
        ("Preprocessing", DEFAULT_SUBCATEGORY): {"results/preprocess/qc/preprocess_qc.png"},
    }
    for model in MODELS:
        items["Models", model] = {
            f"results/{model}/model/training.png",
            f"results/{model}/encode/reconstructions.png",
        }
        items["Latent SCM", model] = {
            f"results/{model}/scm/r2.png",
            f"results/{model}/scm/effects.png",
        }
        items["Counterfactuals", model] = {f"results/{model}/counterfactual/counterfactuals.png"}
        items["Evaluation", model] = {
            f"results/{model}/evaluate/{name}"
            for name in (
                "volumes_vs_age.png",
                "effect_sizes.png",
                "ground_truth.png",
                "tables.html",
            )
        }
    return items


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium (selenium driver) on a fresh profile, for the whole module."""
    require_chromium()
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def tiny_report(browser, tiny_run) -> Path:
    """report.html of the shared complete run of the tiny config (built after the browser check,
    so a missing browser skips before the run)."""
    workdir = tiny_run
    # Snakemake builds the report from the current DAG: with an outdated checkpoint (e.g. the
    # code changed during the run) it silently leaves out every item downstream of it.
    outdated = planned_jobs(workdir, TINY)
    assert not outdated, f"the tiny run is not up to date before --report: {outdated}"
    run_snakemake(workdir, TINY, "--report", "browser_report.html")
    return workdir / "browser_report.html"


@pytest.fixture(scope="module")
def report_page(browser, tiny_report) -> ReportPage:
    return ReportPage(browser, tiny_report)


def walk(page: ReportPage):
    """Open every category and subcategory by clicking; yield (category, subcategory, listed item
    labels) with the page showing that subcategory's items."""
    categories = page.categories()
    for category in sorted(categories):
        page.home()
        page.open_category(category)
        subcategories = categories[category]
        if len(subcategories) == 1:
            (subcategory,) = subcategories
            yield category, subcategory, page.listed_items()
            continue
        assert sorted(page.menu_links()) == sorted(subcategories), category
        for subcategory in sorted(subcategories):
            page.open_subcategory(category, subcategory)
            yield category, subcategory, page.listed_items()
            page.back_to_category(category)


def test_every_report_item_is_listed_in_its_category(report_page):
    categories = report_page.categories()
    for (category, subcategory), paths in expected_items().items():
        held = set(categories.get(category, {}).get(subcategory, []))
        assert paths <= held, f"{category}/{subcategory}: missing {sorted(paths - held)}"
    report_page.home()
    menu = report_page.menu_links()
    assert menu[:3] == ["Workflow", "Statistics", "About"]
    assert sorted(menu[3:]) == sorted(categories)
    listed = {(c, s): sorted(items) for c, s, items in walk(report_page)}
    assert listed == {(c, s): sorted(paths) for c, subs in categories.items() for s, paths in subs.items()}  # fmt: skip


def test_every_report_item_displays(report_page, tiny_report):
    """Figures: a loaded <img> of the file's own size, not blank on screen. HTML items: a frame
    with text, its tables with rows. Anything else gets only a download link in the report."""
    mime_types = report_page.mime_types()
    report_page.console_errors()  # drop what loading the page logged; checked by its own test
    shown = []
    for category, subcategory, _ in walk(report_page):
        for path in report_page.categories()[category][subcategory]:
            report_page.view(path)
            mime = mime_types[path]
            if mime in IMAGE_TYPES:
                img, size = report_page.displayed_image(path)
                if mime != "image/svg+xml":
                    assert size == Image.open(tiny_report.parent / path).size, path
                on_screen = png_pixels(img.screenshot_as_png)
                assert on_screen.size and on_screen.std() > 0, f"{path} displays blank"
            elif mime in ("text/html", "application/pdf"):
                frame = report_page.displayed_frame(path)
                if mime == "text/html":
                    contents = report_page.frame_contents(frame)
                    assert contents["text"].strip(), f"{path} displays an empty page"
                    for table in contents["tables"]:
                        assert table and all(table), f"{path}: a table without rows or cells"
            else:
                pytest.fail(
                    f"{category}/{subcategory}: {path} ({mime}) is only offered as a download in "
                    "the report; write tables with latentcf.report_tables.write_html_table"
                )
            shown.append(path)
    assert sorted(shown) == sorted(mime_types)
    expected = set().union(*expected_items().values())
    assert expected <= set(shown), f"not in the report: {sorted(expected - set(shown))}"
    assert report_page.console_errors() == []


def test_screenshot_shows_a_figure(report_page, tmp_path):
    report_page.home()
    report_page.open_category("Demo cohort")
    path = "results/demo/truth_volumes_vs_age.png"
    report_page.view(path)
    img, _ = report_page.displayed_image(path)
    pixels = report_page.screenshot()
    Image.fromarray(pixels).save(tmp_path / "report.png")
    width, height = VIEWPORT
    assert pixels.shape == (height, width, 3)
    assert pixels.std() > 0
    box = img.rect  # where the figure is drawn, in viewport pixels
    assert box["width"] > width / 4 and box["height"] > height / 4, box
    shown = pixels[int(box["y"]) : int(box["y"] + box["height"]), int(box["x"]) : int(box["x"] + box["width"])]  # fmt: skip
    assert shown.std() > 5, f"the figure looks blank on screen: {tmp_path / 'report.png'}"


def test_page_loads_without_console_errors(browser, tiny_report):
    page = ReportPage(browser, tiny_report)
    assert page.console_errors() == []


# --- an HTML table item, in a standalone workflow of its own -----------------------------------

TABLE_SNAKEFILE = textwrap.dedent("""
    import pandas as pd
    from latentcf.report_tables import write_html_table

    rule all:
        input:
            report("evaluation/truth.html", caption="caption.rst", category="Evaluation",
                   subcategory="ground truth"),

    rule table:
        input: "truth.tsv"
        output: "evaluation/truth.html"
        run:
            table = pd.read_csv(input[0], sep="\\t")
            write_html_table(table, output[0], "Ground truth per structure", caption="Volumes in ml")
""")


def test_html_table_item_displays_its_rows(browser, tmp_path):
    table = pd.DataFrame(
        {
            "structure": ["hippocampus", "<lateral> & ventricles", "cortex"],
            "volume_ml": [3.14159, 25012.5, np.nan],
            "n_voxels": [3141, 25012, 0],
        }
    )
    table.to_csv(tmp_path / "truth.tsv", sep="\t", index=False)
    (tmp_path / "Snakefile").write_text(TABLE_SNAKEFILE)
    (tmp_path / "caption.rst").write_text("Ground-truth volume per structure.\n")
    for extra in ([], ["--report", "report.html"]):
        command = [str(SNAKEMAKE), "--directory", str(tmp_path), "--cores", "1", *extra]
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    page = ReportPage(browser, tmp_path / "report.html")
    assert page.categories() == {"Evaluation": {"ground truth": ["evaluation/truth.html"]}}
    page.home()
    assert page.menu_links() == ["Workflow", "Statistics", "About", "Results"]  # one category
    page.open_category("Evaluation")
    assert page.listed_items() == ["evaluation/truth.html"]
    page.view("evaluation/truth.html")
    frame = page.displayed_frame("evaluation/truth.html")
    contents = page.frame_contents(frame)
    assert contents["tables"] == [
        [
            ["structure", "volume_ml", "n_voxels"],
            ["hippocampus", "3.14", "3141"],
            ["<lateral> & ventricles", "2.5e+04", "25012"],
            ["cortex", "n/a", "0"],
        ]
    ]
    assert "Ground truth per structure" in contents["text"] and "Volumes in ml" in contents["text"]
    pixels = page.screenshot()
    Image.fromarray(pixels).save(tmp_path / "report.png")
    width, height = VIEWPORT
    assert pixels.shape == (height, width, 3)
    box = frame.rect
    shown = pixels[int(box["y"]) : int(box["y"] + 200), int(box["x"]) : int(box["x"] + 400)]
    assert shown.std() > 5, f"the table pane looks blank: {tmp_path / 'report.png'}"
    assert page.console_errors() == []
